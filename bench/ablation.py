"""Reduced A/B of training and decoding choices on MetaQA 2- and 3-hop, side by side in one run.

Each arm trains a student (the same tokenizer and initial weights) for ``--steps`` on the verified
KG-supervised traces of MetaQA 2/3-hop dev minus the held-out slice (``bench/accuracy.py``'s split,
chain fallback off), with one ``--entity-loss-weights`` value; each student is then evaluated on a
seeded sample of the held-out 2- and 3-hop questions at every ``--min-beams`` width (topic entities
ranked out, MetaQA's convention; strict Hits@1 beside). Prints one JSON object.

    .venv/bin/python bench/ablation.py --entity-loss-weights 1.0,0.25 --min-beams 5,10
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path as FsPath
from typing import Any

ROOT = FsPath(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# the sibling script (its folder is sys.path[0] when a bench script runs): split, sample, stores
import accuracy as acc  # noqa: E402

from decoding.pathformat import COMPACT_PROMPT, build_prompt  # noqa: E402
from distill.evaluate import evaluate, open_generator  # noqa: E402
from distill.student_init import student_texts_from_store  # noqa: E402
from distill.train import TrainConfig, new_student, set_threads_from_env, train  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT / ".." / "shared" / "data"))
    p.add_argument("--out", default=str(ROOT / "artifacts" / "ablation"))
    p.add_argument("--entity-loss-weights", default="1.0,0.25")
    p.add_argument("--min-beams", default="5,10", help="beam search widths to evaluate (k=5 returned)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--eval-limit", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    set_threads_from_env()
    data, out = FsPath(args.data), FsPath(args.out)
    stores = acc.Stores(data)
    store = stores.get("metaqa")
    traces, evals = [], []
    for hops in (2, 3):
        tr, val = acc.metaqa_split(data, hops, args.seed, 0.1)
        traces += acc.make_traces(out, f"metaqa-{hops}hop", store, tr, hops, 2, chain_fallback=False)
        evals.append((hops, acc.eval_sample(val, args.eval_limit, args.seed)))
    texts = [*student_texts_from_store(store), *(t.question for t in traces)]
    texts += [build_prompt(t.question, t.topic_entities, COMPACT_PROMPT) for t in traces[:2000]]
    init = new_student(TrainConfig(out_dir=str(out), seed=args.seed), texts)
    arms: list[dict[str, Any]] = []
    for weight in (float(w) for w in args.entity_loss_weights.split(",")):
        arm_dir = out / f"entity-weight-{weight}"
        cfg = TrainConfig(
            out_dir=str(arm_dir),
            init_from=init,
            max_steps=args.steps,
            max_paths_per_trace=2,
            entity_loss_weight=weight,
            seed=args.seed,
            save_steps=0,
        )
        summary = train(cfg, traces)
        arm: dict[str, Any] = {
            "entity_loss_weight": weight,
            "train": {k: summary[k] for k in ("steps", "seconds", "first_loss", "final_loss", "examples")},
        }
        for beams in (int(b) for b in args.min_beams.split(",")):
            generator = open_generator("hf", str(arm_dir), store, min_beams=beams)  # one per width
            try:
                for hops, questions in evals:
                    t0 = time.perf_counter()
                    r = evaluate(
                        generator,
                        store,
                        questions,
                        k=5,
                        hops=hops,
                        progress=False,
                        exclude_topic_answers=True,
                    )
                    arm[f"{hops}hop_beams{beams}"] = {
                        **{k: r[k] for k in ("n", "hits@1", "hits@1_with_topic", "f1", "faithful_path_rate")},
                        "seconds": round(time.perf_counter() - t0, 1),
                    }
            finally:
                generator.close()
        print(json.dumps(arm), file=sys.stderr, flush=True)
        arms.append(arm)
    print(json.dumps({"args": vars(args), "arms": arms}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

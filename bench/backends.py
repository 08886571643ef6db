"""Both decoding backends on one student, side by side in one run: same questions, same settings.

Evaluates ``--student`` (default: the ``make bench-accuracy`` student) with each of ``--backends`` on a
seeded sample of the held-out MetaQA ``--hops`` questions (``bench/accuracy.py``'s split and sample,
topic entities ranked out as MetaQA's convention), then compares what they returned question by
question. Prints one JSON object: each backend's metrics, how many questions got the identical path
list (entities, relations and order) and the identical top answer, and the latency ratio.

    .venv/bin/python bench/backends.py --hops 3 --n 40
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path as FsPath
from typing import Any

ROOT = FsPath(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from distill.evaluate import evaluate, open_generator  # noqa: E402
from distill.train import set_threads_from_env  # noqa: E402


def _accuracy_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_accuracy", ROOT / "bench" / "accuracy.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _path_list(prediction: dict[str, Any]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    return [(tuple(p["entities"]), tuple(p["relations"])) for p in prediction["paths"]]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT / ".." / "shared" / "data"))
    p.add_argument("--student", default=str(ROOT / "artifacts" / "student-bench"))
    p.add_argument("--hops", type=int, choices=(1, 2, 3), default=3)
    p.add_argument("--n", type=int, default=40, help="held-out questions (seeded sample; 0: all)")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--min-beams", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--backends", default="hf,vllm")
    p.add_argument("--seed", type=int, default=0, help="the split and sample seed (bench-accuracy's)")
    args = p.parse_args()
    if not (FsPath(args.student) / "config.json").exists():
        sys.exit(f"no student at {args.student} (run `make bench-accuracy` or pass --student DIR)")
    set_threads_from_env()
    acc = _accuracy_module()
    data = FsPath(args.data)
    _, held_out = acc.metaqa_split(data, args.hops, args.seed, 0.1)
    questions = acc.eval_sample(held_out, args.n, args.seed)
    store = acc.Stores(data).get("metaqa")
    results: dict[str, dict[str, Any]] = {}
    predictions: dict[str, list[dict[str, Any]]] = {}
    for backend in args.backends.split(","):
        generator = open_generator(backend, args.student, store, min_beams=args.min_beams)
        predictions[backend] = []
        try:
            results[backend] = evaluate(
                generator,
                store,
                questions,
                k=args.k,
                hops=args.hops,
                batch_size=args.batch_size,
                predictions=predictions[backend],
                exclude_topic_answers=True,
            )
        finally:
            generator.close()
    report: dict[str, Any] = {
        "student": args.student,
        "set": f"MetaQA-{args.hops}hop held-out",
        "n": len(questions),
        "results": results,
    }
    names = list(predictions)
    if len(names) == 2:
        pairs = list(zip(predictions[names[0]], predictions[names[1]], strict=True))
        report["identical_path_lists"] = sum(_path_list(x) == _path_list(y) for x, y in pairs)
        report["identical_top_answer"] = sum(x["answers"][:1] == y["answers"][:1] for x, y in pairs)
        fast = results[names[0]]["latency_ms_p50"]
        report[f"latency_p50_{names[1]}_over_{names[0]}"] = (
            round(results[names[1]]["latency_ms_p50"] / fast, 2) if fast else None
        )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":  # vLLM spawns worker processes that re-import this module
    raise SystemExit(main())

"""Decoding arms on one student, side by side in one run: the same questions, the same settings.

An arm is ``BACKEND[:SCORING]`` (hf | vllm; relative | raw entity scoring, default relative). Evaluates
``--student`` (default: the ``make bench-accuracy`` student) with each of ``--arms`` on a seeded sample
of the held-out MetaQA ``--hops`` questions (``bench/accuracy.py``'s split and sample, topic entities
ranked out as MetaQA's convention), then compares each arm with the first question by question. Prints
one JSON object: each arm's metrics and, per later arm, how many questions got the identical path list
(entities, relations and order) and the identical top answer, and its p50 latency over the first arm's.

    .venv/bin/python bench/backends.py --hops 3 --n 40                     # transformers vs vLLM
    .venv/bin/python bench/backends.py --hops 2 --n 300 --arms hf,hf:raw   # entity scoring A/B
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path as FsPath
from typing import Any, cast

ROOT = FsPath(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# the sibling script (its folder is sys.path[0] when a bench script runs): split, sample, stores
import accuracy as acc  # noqa: E402

from decoding.pathformat import EntityScoring  # noqa: E402
from distill.evaluate import evaluate, open_generator  # noqa: E402
from distill.train import set_threads_from_env  # noqa: E402


def _path_list(prediction: dict[str, Any]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    return [(tuple(p["entities"]), tuple(p["relations"])) for p in prediction["paths"]]


def agreement(first: list[dict[str, Any]], other: list[dict[str, Any]]) -> dict[str, Any]:
    """Questions (in the same order in both) whose path lists, and whose top answers, are identical."""
    pairs = list(zip(first, other, strict=True))
    return {
        "identical_path_lists": sum(_path_list(x) == _path_list(y) for x, y in pairs),
        "identical_top_answer": sum(x["answers"][:1] == y["answers"][:1] for x, y in pairs),
    }


def _parse_arm(arm: str) -> tuple[str, str, EntityScoring]:
    backend, colon, scoring = arm.partition(":")
    if backend not in ("hf", "vllm") or (colon and scoring not in ("relative", "raw")):
        sys.exit(f"--arms: {arm!r} is not BACKEND[:SCORING] (backend hf | vllm, scoring relative | raw)")
    return arm, backend, cast(EntityScoring, scoring or "relative")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT / ".." / "shared" / "data"))
    p.add_argument("--student", default=str(ROOT / "artifacts" / "student-bench"))
    p.add_argument("--hops", type=int, choices=(1, 2, 3), default=3)
    p.add_argument("--n", type=int, default=40, help="held-out questions (seeded sample; 0: all)")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--min-beams", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--arms", default="hf,vllm", help="comma-separated BACKEND[:SCORING]")
    p.add_argument("--seed", type=int, default=0, help="the split and sample seed (bench-accuracy's)")
    args = p.parse_args()
    if not (FsPath(args.student) / "config.json").exists():
        sys.exit(f"no student at {args.student} (run `make bench-accuracy` or pass --student DIR)")
    arms = [_parse_arm(arm) for arm in args.arms.split(",")]
    set_threads_from_env()
    data = FsPath(args.data)
    _, held_out = acc.metaqa_split(data, args.hops, args.seed, 0.1)
    questions = acc.eval_sample(held_out, args.n, args.seed)
    store = acc.Stores(data).get("metaqa")
    results: dict[str, dict[str, Any]] = {}
    predictions: dict[str, list[dict[str, Any]]] = {}
    for arm, backend, entity_scoring in arms:
        generator = open_generator(
            backend, args.student, store, entity_scoring=entity_scoring, min_beams=args.min_beams
        )
        predictions[arm] = []
        try:
            results[arm] = evaluate(
                generator,
                store,
                questions,
                k=args.k,
                hops=args.hops,
                batch_size=args.batch_size,
                predictions=predictions[arm],
                exclude_topic_answers=True,
            )
        finally:
            generator.close()
        results[arm]["entity_scoring"] = entity_scoring
    report: dict[str, Any] = {
        "student": args.student,
        "set": f"MetaQA-{args.hops}hop held-out",
        "n": len(questions),
        "results": results,
        "vs_first": {},
    }
    first, *others = list(predictions)
    fast = results[first]["latency_ms_p50"]
    for arm in others:
        report["vs_first"][arm] = agreement(predictions[first], predictions[arm])
        ratio = round(results[arm]["latency_ms_p50"] / fast, 2) if fast else None
        report["vs_first"][arm]["latency_p50_ratio"] = ratio
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":  # vLLM spawns worker processes that re-import this module
    raise SystemExit(main())

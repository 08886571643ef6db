"""Accuracy benchmark: train one student on KG-supervised traces, evaluate constrained and unconstrained.

Training data: MetaQA dev (1/2/3-hop, minus a seeded 10% slice per hop kept aside for validation) and
PathQuestion grouped train splits (PQ-2H, PQ-3H, PQL-2H, PQL-3H, PQL-3H_more). Evaluation: PathQuestion
grouped test (PQ and PQL) and the MetaQA slices kept aside (1/2/3-hop separately); MetaQA answers are
ranked without the topic entity, as MetaQA's answer sets never hold it (``distill.evaluate``), and the
strict figures are reported beside. Every stage is cached under --out and resumes (traces by id,
training from its last checkpoint).

    .venv/bin/python bench/accuracy.py --data ../shared/data --out artifacts/student-bench
    .venv/bin/python bench/accuracy.py --smoke   # short run proving the pipeline
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path as FsPath
from typing import Any

ROOT = FsPath(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from distill.evaluate import evaluate, open_generator  # noqa: E402
from distill.student_init import student_texts_from_store  # noqa: E402
from distill.supervised import supervised_traces  # noqa: E402
from distill.traces import Question, Trace, TraceWriter, done_ids, iter_traces, read_questions  # noqa: E402
from distill.train import TrainConfig, set_threads_from_env, train  # noqa: E402
from distill.verify import Verifier  # noqa: E402
from kg.loaders import load_file  # noqa: E402
from kg.memory_store import MemoryStore  # noqa: E402

PQ_KB = {
    "PQ-2H": "2H-kb.txt",
    "PQ-3H": "3H-kb.txt",
    "PQL-2H": "PQL2-KB.txt",
    "PQL-3H": "PQL3-KB.txt",
    "PQL-3H_more": "PQL3-KB.txt",
}
PQ_HOPS = {"PQ-2H": 2, "PQ-3H": 3, "PQL-2H": 2, "PQL-3H": 3, "PQL-3H_more": 3}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Stores:
    """One memory store per KB file, loaded on first use."""

    def __init__(self, data: FsPath) -> None:
        self.data = data
        self._open: dict[str, MemoryStore] = {}

    def get(self, name: str) -> MemoryStore:
        if name not in self._open:
            store = MemoryStore()
            if name == "metaqa":
                load_file(store, self.data / "metaqa" / "kb.txt", "metaqa")
            else:
                load_file(store, self.data / "pathquestion" / name, "pathquestion")
            self._open[name] = store
        return self._open[name]


def metaqa_split(
    data: FsPath, hops: int, seed: int, val_share: float
) -> tuple[list[Question], list[Question]]:
    questions = read_questions(data / "metaqa" / f"{hops}-hop" / "dev.jsonl")
    held = set(random.Random(seed + hops).sample(range(len(questions)), int(len(questions) * val_share)))
    train = [q for i, q in enumerate(questions) if i not in held]
    val = [q for i, q in enumerate(questions) if i in held]
    return train, val


def make_traces(
    out: FsPath,
    name: str,
    store: MemoryStore,
    questions: list[Question],
    hops: int,
    workers: int,
    chain_fallback: bool = True,
) -> list[Trace]:
    """Verified KG-supervised traces for one question set, cached (and resumed) under ``out``.

    ``chain_fallback``: see ``distill.supervised``; off for MetaQA, whose KB copy lacks triples."""
    raw, kept = out / "traces" / f"{name}.raw.jsonl", out / "traces" / f"{name}.verified.jsonl"
    if not kept.exists():
        skip = done_ids(raw, include_errors=True)
        with TraceWriter(raw) as writer:
            writer.write_all(
                supervised_traces(
                    store, questions, hops, 8, skip, workers=workers, chain_fallback=chain_fallback
                )
            )
        verifier = Verifier(store)
        tmp = kept.with_suffix(".tmp")
        with TraceWriter(tmp, append=False) as writer:
            writer.write_all(
                t for t in verifier.verify_all(iter_traces(raw)) if t.verification and t.verification.kept
            )
        tmp.rename(kept)
        (out / "traces" / f"{name}.report.json").write_text(json.dumps(verifier.report.to_json(), indent=2))
    traces = list(iter_traces(kept))
    log(f"traces {name}: {len(traces)} kept of {len(questions)} questions")
    return traces


def repeats(n: int, min_traces: int, most: int = 4) -> int:
    """How often a small training set is repeated so it reaches ``min_traces`` (at most ``most`` times).

    PathQuestion's splits have 0.7k-4k questions against MetaQA's 35k; in one shuffled mix a student
    sees each of them about once and learns their paraphrases poorly."""
    return max(1, min(most, -(-min_traces // n))) if n else 1


def eval_sample(questions: list[Question], limit: int, seed: int) -> list[Question]:
    """A seeded sample of at most ``limit`` questions in file order (0: all). Not the first ``limit``:
    grouped splits keep a gold path's paraphrases together, so a prefix covers only a few paths."""
    if not limit or len(questions) <= limit:
        return questions
    picked = set(random.Random(seed).sample(range(len(questions)), limit))
    return [q for i, q in enumerate(questions) if i in picked]


def run(args: argparse.Namespace) -> dict[str, Any]:
    data, out = FsPath(args.data), FsPath(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stores = Stores(data)
    train_traces: list[Trace] = []
    eval_sets: list[tuple[str, str, int, list[Question]]] = []  # (name, kb, hops, questions)
    for hops in (1, 2, 3):
        tr, val = metaqa_split(data, hops, args.seed, 0.1)
        if args.train_limit:
            tr = tr[: args.train_limit]
        train_traces += make_traces(
            out, f"metaqa-{hops}hop", stores.get("metaqa"), tr, hops, args.workers, chain_fallback=False
        )
        eval_sets.append((f"MetaQA-{hops}hop", "metaqa", hops, val))  # MetaQA: topic never an answer
    for split, kb in PQ_KB.items():
        tr = read_questions(
            data / "pathquestion" / "splits_grouped" / f"{split}.train.jsonl", args.train_limit
        )
        traces = make_traces(out, split, stores.get(kb), tr, PQ_HOPS[split], args.workers)
        train_traces += traces * repeats(len(traces), args.min_set_traces)
        test = read_questions(data / "pathquestion" / "splits_grouped" / f"{split}.test.jsonl")
        eval_sets.append((split, kb, PQ_HOPS[split], test))

    texts: list[str] = []
    if not (out / "init" / "config.json").exists():
        for kb in ("metaqa", *sorted(set(PQ_KB.values()))):
            texts += student_texts_from_store(stores.get(kb))
        texts += [
            t.question for t in train_traces
        ]  # prompts' words: questions (the template comes with them)
        from decoding.pathformat import COMPACT_PROMPT, build_prompt

        texts += [build_prompt(t.question, t.topic_entities, COMPACT_PROMPT) for t in train_traces[:2000]]
    cfg = TrainConfig(
        out_dir=str(out),
        vocab_size=args.vocab_size,
        hidden_size=args.hidden_size,
        layers=args.layers,
        heads=args.heads,
        intermediate=args.intermediate,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        save_steps=200,
        max_paths_per_trace=args.max_paths_per_trace,
        entity_loss_weight=args.entity_loss_weight,
        max_seconds=args.train_minutes * 60 if args.train_minutes else None,
    )
    reused = (out / "train_summary.json").exists() and not args.retrain
    if reused:
        summary = json.loads((out / "train_summary.json").read_text())
        log("student already trained (pass --retrain to train again)")
    else:
        log(f"training on {len(train_traces)} traces")
        summary = train(cfg, train_traces, texts)
    log(
        f"trained: {summary['steps']} steps in {summary['seconds']} s, "
        f"loss {summary['first_loss']} -> {summary['final_loss']}"
    )

    results: list[dict[str, Any]] = []
    for constrained in (True, False):
        for name, kb, hops, questions in eval_sets:
            qs = eval_sample(questions, args.eval_limit, args.seed)
            store = stores.get(kb)
            generator = open_generator("hf", str(out), store, device=args.device, min_beams=args.min_beams)
            try:
                r = evaluate(
                    generator,
                    store,
                    qs,
                    k=args.k,
                    hops=hops,
                    constrained=constrained,
                    batch_size=args.eval_batch_size,
                    progress=True,
                    exclude_topic_answers=kb == "metaqa",
                )
            finally:
                generator.close()
            r = {"set": name, "of": len(questions), **r}
            log(json.dumps(r))
            results.append(r)
            partial = {"train": summary, "student_reused": reused, "eval": results, "args": vars(args)}
            (out / "accuracy.json").write_text(json.dumps(partial, indent=2))  # a killed run keeps its sets
            FsPath(args.report).write_text(markdown(partial, args.smoke))
    report = {"train": summary, "student_reused": reused, "eval": results, "args": vars(args)}
    (out / "accuracy.json").write_text(json.dumps(report, indent=2))
    return report


def grouped(results: list[dict[str, Any]], constrained: bool) -> list[tuple[str, dict[str, Any]]]:
    """Per-set rows plus PQ and PQL aggregates (Hits@1/F1 per question, path rates per path/answer)."""
    rows = [r for r in results if r["constrained"] == constrained]
    out: list[tuple[str, dict[str, Any]]] = []
    for label, prefix in (("PQ (2H+3H)", "PQ-"), ("PQL (2H+3H+3H_more)", "PQL-")):
        part = [r for r in rows if r["set"].startswith(prefix)]
        n = sum(r["n"] for r in part)
        if not n:
            continue
        paths = sum(r["paths_returned"] for r in part)
        answers = sum(r["answers_returned"] for r in part)
        agg: dict[str, Any] = {"n": n, **{k: sum(r[k] * r["n"] for r in part) / n for k in ("hits@1", "f1")}}
        agg["faithful_path_rate"] = (
            sum((r["faithful_path_rate"] or 0) * r["paths_returned"] for r in part) / paths if paths else None
        )
        agg["answer_grounded_rate"] = (
            sum((r["answer_grounded_rate"] or 0) * r["answers_returned"] for r in part) / answers
            if answers
            else None
        )
        out.append((label, agg))
    out += [(r["set"], r) for r in rows]
    return out


def _rate(value: float | None) -> str:
    return "n/a (no paths)" if value is None else f"{100 * value:.1f}%"


def markdown(report: dict[str, Any], smoke: bool) -> str:
    t = report["train"]
    c = t["config"]
    lines = [
        "# Accuracy benchmark (distilled student, graph-constrained decoding)",
        "",
        "Command: `make bench-accuracy` (= `.venv/bin/python bench/accuracy.py --data ../shared/data --out "
        "artifacts/student-bench`)."
        + (
            " **This is a SMOKE run** (`--smoke`): few steps, small eval limit; "
            "its figures prove the pipeline, they are not the targets."
            if smoke
            else ""
        ),
        f"Run finished {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Earlier runs and what changed "
        "between them: [accuracy-history.md](accuracy-history.md).",
        f"Machine: {report['args']['machine']}; "
        f"Python {platform.python_version()}, torch threads {os.environ.get('OMP_NUM_THREADS', 'default')}.",
        "",
        f"Student: Llama {c['layers']} layers, hidden {c['hidden_size']}, {c['heads']} heads, "
        f"vocab {c['vocab_size']} (byte-level BPE trained locally on the KGs' names + questions, so names "
        "are few tokens), trained from scratch on KG-supervised traces (paths along the data set's "
        "annotated relation chain to gold answers, PathQuestion's shortest paths where the chain is no "
        "path (a walk straight back over a triple); verified; "
        f"≤{c['max_paths_per_trace']} paths per question; a MetaQA question whose chain reaches no gold "
        "answer in the KB copy is left out): "
        f"{t['examples']} examples, {t['steps']} steps of batch {c['batch_size']} ({t['epochs_done']} "
        f"epochs; compact prompt, length-grouped batches, entity-token loss weight "
        f"{c.get('entity_loss_weight', 1.0)}), "
        f"loss {t['first_loss']:.3f} → {t['final_loss']:.3f}, "
        f"training time {t['seconds'] / 60:.1f} min"
        + (" (an earlier run's: this run reused its student)." if report.get("student_reused") else "."),
        "",
        f"Evaluation: k={report['args']['k']} paths from a beam search "
        f"{max(report['args']['k'], report['args'].get('min_beams', 1))} wide; "
        "max hops = the split's hop count; "
        f"eval per set: a seeded sample of at most {report['args']['eval_limit'] or 'all'} questions; "
        f"HF backend on {report['args']['device']}. "
        "Hits@1 = top voted answer is gold; F1 over all answers the returned paths vote for; faithful = "
        "returned paths that exist in the KG (re-checked); grounded = answers that end a returned KG path. "
        "MetaQA rows rank answers without the topic entity (MetaQA's answer sets never hold it; "
        "EmbedKGQA's evaluation does the same); the strict Hits@1, topic included, is in its own column.",
        "",
    ]
    for constrained in (True, False):
        lines += [
            f"## {'Constrained' if constrained else 'Unconstrained'} decoding",
            "",
            "| set | n | Hits@1 | Hits@1 strict | F1 | faithful paths | grounded answers | p50 latency ms |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for label, r in grouped(report["eval"], constrained):
            lat = f"{r['latency_ms_p50']:.0f}" if "latency_ms_p50" in r else ""
            strict = f"{100 * r['hits@1_with_topic']:.1f}" if "hits@1_with_topic" in r else "="
            lines.append(
                f"| {label} | {r['n']} | {100 * r['hits@1']:.1f} | {strict} | {100 * r['f1']:.1f} | "
                f"{_rate(r['faithful_path_rate'])} | {_rate(r['answer_grounded_rate'])} | {lat} |"
            )
        lines.append("")
    lines += [
        "Targets (full run): faithful = 100% constrained; Hits@1 ≥ 95 PQ, ≥ 85 PQL, ≥ 95 MetaQA 1/2-hop, "
        "≥ 90 MetaQA 3-hop.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT / ".." / "shared" / "data"))
    p.add_argument("--out", default=str(ROOT / "artifacts" / "student-bench"))
    p.add_argument("--report", default=str(ROOT / "docs" / "bench" / "accuracy.md"))
    p.add_argument(
        "--smoke", action="store_true", help="short run: 300 steps, 2000 questions/set, eval 25/set"
    )
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--intermediate", type=int, default=768)
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--epochs", type=float, default=3.2)
    p.add_argument(
        "--min-set-traces",
        type=int,
        default=5000,
        help="PathQuestion sets smaller than this are repeated (up to 4x) in the training mix",
    )
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--max-paths-per-trace", type=int, default=2)
    p.add_argument("--entity-loss-weight", type=float, default=0.25, help="see distill.train.TrainConfig")
    p.add_argument("--train-limit", type=int, default=None, help="training questions per set")
    p.add_argument(
        "--eval-limit", type=int, default=500, help="questions evaluated per set, a seeded sample (0: all)"
    )
    p.add_argument("--eval-batch-size", type=int, default=8)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--min-beams", type=int, default=10, help="beam search width (the top k are returned)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu | cuda (training picks the accelerator itself)")
    p.add_argument("--workers", type=int, default=2, help="processes for the shortest-path search")
    p.add_argument("--machine", default="2-core CPU VM, 24 GiB, no GPU", help="written into the report")
    p.add_argument("--train-minutes", type=float, default=None, help="wall-clock cap on training")
    p.add_argument("--retrain", action="store_true")
    args = p.parse_args()
    if args.smoke:
        args.max_steps = args.max_steps or 300
        args.train_limit = args.train_limit or 2000
        args.eval_limit = 25 if args.eval_limit == p.get_default("eval_limit") else args.eval_limit
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    set_threads_from_env()
    started = time.perf_counter()
    report = run(args)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    FsPath(args.report).parent.mkdir(parents=True, exist_ok=True)
    FsPath(args.report).write_text(
        markdown(report, args.smoke) + f"Total wall time: {report['total_seconds'] / 60:.1f} min.\n"
    )
    print(
        json.dumps(
            {
                "report": args.report,
                "total_seconds": report["total_seconds"],
                "eval": [
                    {k: r[k] for k in ("set", "constrained", "n", "hits@1", "f1", "faithful_path_rate")}
                    for r in report["eval"]
                ],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

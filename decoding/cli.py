"""``kgr bench trie|decode``: constraint and decoding benchmarks printing one JSON object."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import tracemalloc
from pathlib import Path as FsPath
from typing import Any

from kg.loaders import FORMATS, load_file
from kg.memory_store import MemoryStore


def _load(args: argparse.Namespace) -> tuple[MemoryStore, float]:
    t0 = time.perf_counter()
    store = MemoryStore()
    load_file(store, args.kb, args.kb_format)
    return store, time.perf_counter() - t0


def _student_dir(args: argparse.Namespace, store: MemoryStore, work: FsPath) -> FsPath:
    """The given student, or a tiny random one with a tokenizer trained on this KG's names."""
    if args.model:
        return FsPath(args.model)
    from distill.student_init import init_student, student_texts_from_store, train_tokenizer

    train_tokenizer(student_texts_from_store(store), work / "tokenizer", vocab_size=4000)
    return init_student(work / "tokenizer", work / "student")


def cmd_trie(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    from decoding.bench import bench_trie, read_questions
    from decoding.index import KGIndex
    from decoding.pathformat import PathCodec

    store, load_s = _load(args)
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            tokenizer = AutoTokenizer.from_pretrained(args.model)
        else:
            from distill.student_init import student_texts_from_store, train_tokenizer

            tokenizer = train_tokenizer(student_texts_from_store(store), FsPath(tmp) / "tok", vocab_size=4000)
        codec = PathCodec(tokenizer)
        tracemalloc.start()
        t0 = time.perf_counter()
        index = KGIndex.build(store, codec)
        build_s = time.perf_counter() - t0
        index_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        result = bench_trie(
            store, index, read_questions(args.questions, args.n), args.hops, args.walks, args.seed
        )
    out: dict[str, Any] = {
        "kb": str(args.kb),
        "kg": store.stats().to_json(),
        "kb_load_s": round(load_s, 3),
        "index_build_s": round(build_s, 3),
        "index_peak_mem_mb": round(index_mb, 1),
        "vocab": codec.vocab_size,
        **result,
    }
    if not args.per_question:
        out.pop("per_question")
    print(json.dumps(out, indent=None if args.json else 2))
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    from decoding.bench import bench_decode, read_questions
    from decoding.hf_backend import HFPathGenerator
    from decoding.index import KGIndex

    os.environ.setdefault("VLLM_CONFIGURE_LOGGING", "0")  # vLLM logs to stdout; keep stdout one JSON object
    store, _ = _load(args)
    questions = read_questions(args.questions, args.n)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = _student_dir(args, store, FsPath(tmp))
        generators: dict[str, Any] = {}
        hf = HFPathGenerator(model_dir, store, batch_size=args.batch_size)
        index = hf.index if isinstance(hf.index, KGIndex) else None
        if "hf" in args.backends:
            generators["hf"] = hf
        if "vllm" in args.backends:
            from decoding.vllm_backend import VllmPathGenerator

            generators["vllm"] = VllmPathGenerator(model_dir, store, index=index)
        result = bench_decode(generators, questions, args.hops, args.k, args.repeats)
    print(
        json.dumps(
            {"kb": str(args.kb), "questions": len(questions), "hops": args.hops, "k": args.k, **result},
            indent=None if args.json else 2,
        )
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = sub.add_parser("bench", help="decoding benchmarks").add_subparsers(
        dest="bench_command", required=True
    )
    for name, func, help_text in (
        ("trie", cmd_trie, "constraint setup / step time / memory: lazy vs materialized vs GCR"),
        ("decode", cmd_decode, "constrained vs unconstrained tokens/s on the hf and vllm backends"),
    ):
        p = bench.add_parser(name, help=help_text)
        p.add_argument("--kb", required=True, help="triple file")
        p.add_argument("--kb-format", choices=sorted(FORMATS), required=True)
        p.add_argument("--questions", required=True, help="JSONL with question and topic_entity")
        p.add_argument("--hops", type=int, default=2)
        p.add_argument("--n", type=int, default=50, help="first N questions")
        p.add_argument("--model", default=None, help="student dir (default: a tiny random one built here)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--json", action="store_true", help="one-line JSON")
        p.set_defaults(func=func)
        if name == "trie":
            p.add_argument("--walks", type=int, default=3, help="random constrained walks timed per question")
            p.add_argument("--per-question", action="store_true", help="include per-question figures")
        else:
            p.add_argument("--backends", default="hf,vllm")
            p.add_argument("--k", type=int, default=1)
            p.add_argument("--batch-size", type=int, default=8)
            p.add_argument("--repeats", type=int, default=5)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

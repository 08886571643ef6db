"""``kgr distill traces|verify|train`` and ``kgr eval``; each prints one JSON summary as its last line."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path as FsPath

from kg.errors import InputError
from kg.loaders import FORMATS, load_file
from kg.memory_store import MemoryStore


def load_kbs(paths: Sequence[str], formats: Sequence[str]) -> MemoryStore:
    """One in-process store holding every KB file (``formats``: one for all, or one per file)."""
    if len(formats) not in (1, len(paths)):
        raise InputError("give one --kb-format for all --kb files or one per file")
    store = MemoryStore()
    for i, path in enumerate(paths):
        load_file(store, path, formats[0] if len(formats) == 1 else formats[i])
    return store


def _kb_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--kb", action="append", required=required, default=None, help="triple file (repeatable)")
    p.add_argument("--kb-format", action="append", choices=FORMATS, default=None, help="format(s) of --kb")


def _store(args: argparse.Namespace) -> MemoryStore:
    return load_kbs(args.kb, args.kb_format or ["tsv"])


def _emit(summary: dict[str, object]) -> int:
    print(json.dumps(summary))
    return 0


def cmd_traces(args: argparse.Namespace) -> int:
    from distill.supervised import supervised_traces
    from distill.teacher import LocalTeacher, OpenAITeacher, teacher_jobs
    from distill.traces import TraceWriter, done_ids, read_questions

    store = _store(args)
    questions = [q for f in args.questions for q in read_questions(f, args.limit)]
    skip = done_ids(args.out) if args.resume else set()
    summary: dict[str, object] = {"out": args.out, "questions": len(questions), "already_done": len(skip)}
    with TraceWriter(args.out, append=args.resume) as writer:
        if args.supervised:
            traces = supervised_traces(
                store,
                questions,
                args.hops,
                args.max_paths,
                skip,
                workers=args.workers,
                chain_fallback=args.chain_fallback,
            )
            failed = 0
            for t in traces:
                writer.write(t)
                failed += t.error is not None
            summary.update(teacher="kg-supervised", failed=failed)
        else:
            jobs = teacher_jobs(store, questions, args.hops, args.max_candidates, skip)
            if args.teacher_dir:
                counts = LocalTeacher(args.teacher_dir, do_sample=args.sample).run(jobs, writer)
            elif args.teacher_url and args.teacher_model:
                api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
                teacher = OpenAITeacher(
                    args.teacher_url,
                    args.teacher_model,
                    api_key=api_key,
                    concurrency=args.concurrency,
                    max_retries=args.max_retries,
                    timeout_s=args.timeout,
                )
                counts = teacher.run(jobs, writer)
            else:
                raise InputError("give --supervised, --teacher-dir, or --teacher-url with --teacher-model")
            summary.update(counts)
    return _emit(summary)


def cmd_verify(args: argparse.Namespace) -> int:
    from distill.verify_job import run_verify

    report, skipped = run_verify(
        _store(args),
        args.traces,
        args.out,
        require_answer=not args.keep_wrong_answers,
        write_dropped=args.write_dropped,
        resume=args.resume,
    )
    full = report.to_json()
    if args.report:
        FsPath(args.report).write_text(json.dumps(full, indent=2))
    summary = {k: v for k, v in full.items() if k != "dropped_examples"}
    return _emit({"out": args.out, "lines_already_verified": skipped, **summary})


def cmd_train(args: argparse.Namespace) -> int:
    from distill.student_init import student_texts_from_store
    from distill.traces import iter_traces
    from distill.train import TrainConfig, set_threads_from_env, train

    set_threads_from_env()
    traces = [t for f in args.traces for t in iter_traces(f)]
    texts: list[str] = []
    if args.init_from is None:
        if not args.kb:
            raise InputError("a new student needs --kb files to train its tokenizer on the KG's names")
        texts = list(
            student_texts_from_store(
                _store(args), [t.question for t in traces], [t.topic_entities for t in traces]
            )
        )
    cfg = TrainConfig(
        out_dir=args.out,
        init_from=args.init_from,
        vocab_size=args.vocab_size,
        hidden_size=args.hidden_size,
        layers=args.layers,
        heads=args.heads,
        intermediate=args.intermediate,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        lr=args.lr,
        max_paths_per_trace=args.max_paths_per_trace,
        entity_loss_weight=args.entity_loss_weight,
        seed=args.seed,
        save_steps=args.save_steps,
        resume=not args.no_resume,
        lora=args.lora,
        distill_teacher=args.distill_teacher,
        distill_alpha=args.distill_alpha,
    )
    summary = train(cfg, traces, texts)
    # under torchrun / accelerate launch every rank returns; one summary line is enough
    return _emit(summary) if os.environ.get("RANK", "0") == "0" else 0


def cmd_eval(args: argparse.Namespace) -> int:
    from distill.evaluate import evaluate, open_generator
    from distill.traces import read_questions

    store = _store(args)
    questions = read_questions(args.questions, args.limit)
    generator = open_generator(
        args.backend,
        args.student,
        store,
        device=args.device,
        entity_scoring=args.entity_scoring,
        min_beams=args.min_beams,
    )
    predictions: list[dict[str, object]] | None = [] if args.predictions else None
    try:
        result = evaluate(
            generator,
            store,
            questions,
            k=args.k,
            hops=args.hops,
            constrained=not args.unconstrained,
            batch_size=args.batch_size,
            predictions=predictions,
            exclude_topic_answers=args.exclude_topic_answers,
        )
    finally:
        generator.close()
    if args.predictions and predictions is not None:
        with open(args.predictions, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(p) + "\n" for p in predictions)
    if args.json:
        return _emit(result)
    for key, value in result.items():
        print(f"{key}: {value}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    distill = sub.add_parser("distill", help="traces, verification and student training").add_subparsers(
        dest="distill_command", required=True
    )
    tr = distill.add_parser("traces", help="teacher or KG-supervised reasoning traces (resumable)")
    _kb_args(tr)
    tr.add_argument("--questions", action="append", required=True, help="question JSONL (repeatable)")
    tr.add_argument("--out", required=True, help="trace JSONL; existing ids are skipped")
    tr.add_argument(
        "--supervised",
        action="store_true",
        help="KG paths to the gold answers: along each question's relation_path when the file has one, "
        "else the shortest paths of the best-matching chain",
    )
    tr.add_argument(
        "--no-chain-fallback",
        dest="chain_fallback",
        action="store_false",
        help="supervised: no trace when the relation_path reaches no gold answer (a KB copy missing "
        "triples) instead of the shortest paths",
    )
    tr.add_argument("--hops", type=int, default=3)
    tr.add_argument("--max-paths", type=int, default=8, help="supervised: paths kept per question")
    tr.add_argument("--workers", type=int, default=1, help="supervised: processes (in-process store only)")
    tr.add_argument("--max-candidates", type=int, default=50, help="teacher: candidate paths in the prompt")
    tr.add_argument("--teacher-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8001/v1")
    tr.add_argument("--teacher-model")
    tr.add_argument("--api-key-env", default="KGR_TEACHER_API_KEY", help="env var holding the API key")
    tr.add_argument("--teacher-dir", help="local transformers teacher checkpoint")
    tr.add_argument("--sample", action="store_true", help="local teacher: sample instead of greedy")
    tr.add_argument("--concurrency", type=int, default=8)
    tr.add_argument("--max-retries", type=int, default=5)
    tr.add_argument("--timeout", type=float, default=60.0)
    tr.add_argument("--limit", type=int, default=None, help="questions per file")
    tr.add_argument("--no-resume", dest="resume", action="store_false", help="overwrite --out")
    tr.set_defaults(func=cmd_traces)

    ve = distill.add_parser(
        "verify", help="check cited paths against the KG, repair, reject, dedupe (resumable)"
    )
    _kb_args(ve)
    ve.add_argument("--traces", required=True)
    ve.add_argument("--out", required=True, help="verified trace JSONL (kept traces only by default)")
    ve.add_argument("--report", help="JSON report of kept and dropped traces")
    ve.add_argument("--keep-wrong-answers", action="store_true", help="no rejection on the gold answer")
    ve.add_argument("--write-dropped", action="store_true", help="also write dropped traces, marked")
    ve.add_argument(
        "--no-resume", dest="resume", action="store_false", help="verify every trace again, overwrite --out"
    )
    ve.set_defaults(func=cmd_verify)

    tn = distill.add_parser("train", help="train the student on verified traces (resumes from checkpoints)")
    _kb_args(tn, required=False)
    tn.add_argument("--traces", action="append", required=True, help="verified trace JSONL (repeatable)")
    tn.add_argument("--out", required=True, help="output HF model directory")
    tn.add_argument("--init-from", help="HF checkpoint dir; default: a new student (needs --kb)")
    tn.add_argument("--vocab-size", type=int, default=8000)
    tn.add_argument("--hidden-size", type=int, default=256)
    tn.add_argument("--layers", type=int, default=4)
    tn.add_argument("--heads", type=int, default=4)
    tn.add_argument("--intermediate", type=int, default=768)
    tn.add_argument("--epochs", type=float, default=3.0)
    tn.add_argument("--max-steps", type=int, default=None)
    tn.add_argument("--batch-size", type=int, default=32)
    tn.add_argument("--grad-accum", type=int, default=1)
    tn.add_argument("--lr", type=float, default=1e-3)
    tn.add_argument("--max-paths-per-trace", type=int, default=4)
    tn.add_argument(
        "--entity-loss-weight",
        type=float,
        default=1.0,
        help="loss weight of entity tokens after the topic (relations and stops keep 1)",
    )
    tn.add_argument("--seed", type=int, default=0)
    tn.add_argument("--save-steps", type=int, default=200)
    tn.add_argument("--no-resume", action="store_true", help="ignore existing checkpoints")
    tn.add_argument("--lora", action="store_true")
    tn.add_argument("--distill-teacher", help="local teacher dir (same tokenizer) for logit distillation")
    tn.add_argument("--distill-alpha", type=float, default=0.5)
    tn.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval", help="evaluate a student on a question file")
    _kb_args(ev)
    ev.add_argument("--questions", required=True)
    ev.add_argument("--student", required=True, help="student model directory")
    ev.add_argument("--hops", type=int, default=2)
    ev.add_argument("--k", type=int, default=5)
    ev.add_argument(
        "--min-beams", type=int, default=1, help="beam search at least this wide (the top k are returned)"
    )
    ev.add_argument("--backend", choices=["hf", "vllm"], default="hf")
    ev.add_argument("--device", default="cpu")
    ev.add_argument("--unconstrained", action="store_true", help="plain decoding, no KG constraint")
    ev.add_argument(
        "--entity-scoring",
        choices=["relative", "raw"],
        default="relative",
        help="beam ranking: entity tokens relative to the best allowed one (default) or raw log-probs",
    )
    ev.add_argument(
        "--exclude-topic-answers",
        action="store_true",
        help="rank answers without the topic entities (MetaQA's convention); strict figures reported too",
    )
    ev.add_argument("--limit", type=int, default=None)
    ev.add_argument("--batch-size", type=int, default=8)
    ev.add_argument("--predictions", help="write per-question predictions JSONL here")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=cmd_eval)

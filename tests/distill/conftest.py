"""Shared fixtures: the real PathQuestion data, a store over its 2-hop KB, and a tiny trained student."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from distill.traces import Question, Trace, read_questions
from kg.loaders import load_file
from kg.memory_store import MemoryStore

os.environ.setdefault("OMP_NUM_THREADS", "1")
DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
PQ = DATA / "pathquestion"


@pytest.fixture(scope="session")
def pq_dir() -> Path:
    if not (PQ / "2H-kb.txt").exists():
        pytest.fail(f"PathQuestion data missing: expected it under {PQ.resolve()} (shared/ beside the repo)")
    return PQ


@pytest.fixture(scope="session")
def pq_store(pq_dir: Path) -> MemoryStore:
    store = MemoryStore()
    load_file(store, pq_dir / "2H-kb.txt", "pathquestion")
    return store


@pytest.fixture(scope="session")
def pq_rows(pq_dir: Path) -> list[dict[str, object]]:
    with open(pq_dir / "splits_grouped" / "PQ-2H.train.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="session")
def pq_questions(pq_dir: Path) -> list[Question]:
    return read_questions(pq_dir / "splits_grouped" / "PQ-2H.train.jsonl")


@pytest.fixture(scope="session")
def trained_student(
    tmp_path_factory: pytest.TempPathFactory, pq_store: MemoryStore, pq_questions: list[Question]
) -> tuple[Path, list[Trace], dict[str, object]]:
    """A tiny student trained on KG-supervised traces of 120 PQ-2H questions (about 10 s on one core)."""
    from distill.student_init import student_texts_from_store
    from distill.supervised import supervised_traces
    from distill.train import TrainConfig, train
    from distill.verify import Verifier

    questions = pq_questions[:120]
    verifier = Verifier(pq_store)
    traces = list(verifier.verify_all(supervised_traces(pq_store, questions, 2, 4, progress=False)))
    out = tmp_path_factory.mktemp("student")
    cfg = TrainConfig(
        out_dir=str(out),
        hidden_size=128,
        layers=2,
        heads=2,
        intermediate=256,
        vocab_size=1500,
        max_steps=60,
        batch_size=16,
        lr=3e-3,
        save_steps=20,
        progress=False,
    )
    texts = student_texts_from_store(
        pq_store, [q.question for q in questions], [q.topic_entities for q in questions]
    )
    summary = train(cfg, traces, texts)
    return out, traces, summary

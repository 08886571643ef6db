"""Fixtures: real PathQuestion / MetaQA-cut stores, a tokenizer trained on their names, a tiny student."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from decoding.index import KGIndex
from decoding.pathformat import PathCodec
from distill.student_init import init_student, student_texts_from_store, train_tokenizer
from kg.loaders import load_file
from kg.memory_store import MemoryStore

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".." / "shared" / "data"
FIXTURES = ROOT / "tests" / "fixtures" / "decoding"


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="session")
def pq_store() -> MemoryStore:
    kb = DATA / "pathquestion" / "2H-kb.txt"
    if not kb.exists():
        pytest.fail(f"PathQuestion data missing: expected {kb.resolve()} (shared/ beside the repo)")
    store = MemoryStore()
    load_file(store, kb, "pathquestion")
    return store


@pytest.fixture(scope="session")
def pq_questions() -> list[dict[str, object]]:
    return _read_jsonl(DATA / "pathquestion" / "splits_grouped" / "PQ-2H.dev.jsonl")[:12]


@pytest.fixture(scope="session")
def metaqa_store() -> MemoryStore:
    store = MemoryStore()
    load_file(store, FIXTURES / "metaqa_cut.txt", "metaqa")
    return store


@pytest.fixture(scope="session")
def metaqa_questions() -> list[dict[str, object]]:
    return _read_jsonl(FIXTURES / "metaqa_cut_questions.jsonl")


@pytest.fixture(scope="session")
def student_dir(
    tmp_path_factory: pytest.TempPathFactory, pq_store: MemoryStore, metaqa_store: MemoryStore
) -> Path:
    """Tokenizer trained on both KGs' names, and a random tiny Llama (head_dim 64) from a config."""
    out = tmp_path_factory.mktemp("student")
    texts = [*student_texts_from_store(pq_store), *student_texts_from_store(metaqa_store)]
    train_tokenizer(texts, out / "tokenizer", vocab_size=2000)
    return init_student(out / "tokenizer", out / "model")


@pytest.fixture(scope="session")
def codec(student_dir: Path) -> PathCodec:
    from transformers import AutoTokenizer

    return PathCodec(AutoTokenizer.from_pretrained(str(student_dir)))


@pytest.fixture(scope="session")
def pq_index(pq_store: MemoryStore, codec: PathCodec) -> KGIndex:
    return KGIndex.build(pq_store, codec)


@pytest.fixture(scope="session")
def metaqa_index(metaqa_store: MemoryStore, codec: PathCodec) -> KGIndex:
    return KGIndex.build(metaqa_store, codec)

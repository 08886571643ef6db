"""Fixtures for the service tests: a tiny random-init student (session), settings, the real app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from svc_helpers import demo_questions, demo_store, make_settings

from kg.settings import Settings


@pytest.fixture(scope="session")
def tiny_student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from distill.student_init import init_student, student_texts_from_store, train_tokenizer

    out = tmp_path_factory.mktemp("student")
    qs = demo_questions()
    texts = student_texts_from_store(
        demo_store(), [str(q["question"]) for q in qs], [[str(q["topic_entity"])] for q in qs]
    )
    tokenizer = train_tokenizer(texts, out / "tokenizer", vocab_size=800)
    init_student(tokenizer, out / "model", hidden_size=64, layers=1, heads=1, intermediate=128)
    return out / "model"


@pytest.fixture
def settings(tmp_path: Path, tiny_student: Path) -> Settings:
    return make_settings(tmp_path / "data", tiny_student)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from service.app import create_app

    with TestClient(create_app(settings, store=demo_store())) as c:
        yield c

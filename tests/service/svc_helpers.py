"""Helpers for the service tests: the committed demo graph, a tiny random-init student, the real app.

A random-init student still produces only real KG paths under the constraint, which is what API tests
assert (answers and paths exist and verify against the graph); answer quality is the demo's business.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kg.loaders import load_file
from kg.memory_store import MemoryStore
from kg.settings import Settings

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "service" / "demo"
QA_KEY = "test-qa-key-0123456789"
ADMIN_KEY = "test-admin-key-0123456789"
QA = {"Authorization": f"Bearer {QA_KEY}"}
ADMIN = {"X-API-Key": ADMIN_KEY}
QUESTION = "which nationality is frederica_of_mecklenburg-strelitz 's couple ?"
TOPIC = "frederica_of_mecklenburg-strelitz"


def demo_questions(n: int = 200) -> list[dict[str, object]]:
    with open(DEMO / "questions.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for _, line in zip(range(n), fh, strict=False)]


def demo_store() -> MemoryStore:
    store = MemoryStore()
    load_file(store, DEMO / "kb.tsv", "tsv")
    return store


def make_settings(data_dir: Path, student: Path | None, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "student_dir": student,
        "qa_api_key": QA_KEY,
        "admin_api_key": ADMIN_KEY,
        "rate_limit_per_minute": 100_000,
        "rate_limit_burst": 10_000,
        "request_timeout_s": 30.0,
        "log_json": True,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """The real app under uvicorn on a loopback port, in a thread of this process."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def wait_job(client: TestClient, url: str, timeout_s: float = 60.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(url, headers=ADMIN).json()
        if job["state"] not in ("queued", "running"):
            return dict(job)
        if time.monotonic() > deadline:
            raise AssertionError(f"job did not finish: {job}")
        time.sleep(0.1)

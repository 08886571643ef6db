"""The demo: committed graph into an empty store, a student trained once, then served."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from svc_helpers import QA, QUESTION, make_settings

from service.app import create_app
from service.demo import DEMO_KB, ensure_demo, student_ready

FAST = {"max_steps": 2, "batch_size": 4, "save_steps": 0, "vocab_size": 600, "intermediate": 64}


@pytest.mark.slow
def test_ensure_demo_loads_trains_once_and_serves(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", None)
    store, student_dir = ensure_demo(settings, training=FAST)
    assert store.stats().triples == sum(1 for line in DEMO_KB.read_text().splitlines() if line.strip())
    assert student_ready(student_dir) and student_dir == settings.data_dir / "demo-student"
    stamp = (student_dir / "config.json").stat().st_mtime_ns
    store2, again = ensure_demo(settings, training=FAST)  # second start: nothing reloaded or retrained
    assert again == student_dir and (student_dir / "config.json").stat().st_mtime_ns == stamp
    assert store2.stats() == store.stats()  # the saved memory store was reopened, not reloaded twice
    serving = make_settings(tmp_path / "data", student_dir)
    with TestClient(create_app(serving, store=store2)) as c:
        r = c.post("/v1/qa", json={"question": QUESTION, "k": 2}, headers=QA)
        assert r.status_code == 200, r.text
        assert r.json()["paths"] and all(p["verified"] for p in r.json()["paths"])

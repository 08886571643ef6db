"""The service on the vLLM backend (the real CPU build): QA, concurrent requests, a graph swap."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from svc_helpers import ADMIN, QA, QUESTION, TOPIC, demo_store, make_settings, wait_job

from service.app import create_app

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_qa_on_vllm_with_concurrency_and_a_graph_swap(tmp_path: Path, tiny_student: Path) -> None:
    settings = make_settings(tmp_path, tiny_student, backend="vllm", request_timeout_s=300.0)
    with TestClient(create_app(settings, store=demo_store())) as c:
        assert c.get("/readyz").status_code == 200, c.get("/readyz").text
        r = c.post("/v1/qa", json={"question": QUESTION, "k": 3, "backend": "vllm"}, headers=QA)
        assert r.status_code == 200, r.text
        assert r.json()["backend"] == "vllm"
        assert r.json()["paths"] and all(
            p["verified"] and p["entities"][0] == TOPIC for p in r.json()["paths"]
        )
        with ThreadPoolExecutor(4) as pool:
            codes = list(
                pool.map(
                    lambda _: c.post("/v1/qa", json={"question": QUESTION, "k": 2}, headers=QA).status_code,
                    range(4),
                )
            )
        assert codes == [200] * 4
        extra = tmp_path / "extra.tsv"
        extra.write_text(f"{TOPIC}\tpet\tfido\n")
        r = c.post("/v1/admin/graphs", json={"path": str(extra), "format": "tsv"}, headers=ADMIN)
        assert wait_job(c, f"/v1/admin/jobs/{r.json()['id']}", timeout_s=300)["state"] == "succeeded"
        q = {"question": "pet?", "topic_entities": ["fido"], "k": 1, "max_hops": 1}
        r = c.post("/v1/qa", json=q, headers=QA)
        assert r.status_code == 200 and r.json()["graph_version"] == 2
        assert r.json()["paths"][0]["entities"] == ["fido", TOPIC]

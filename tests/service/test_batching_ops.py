"""Micro-batching under concurrency, queue-full 503, timeouts, and the ops endpoints."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from svc_helpers import QA, QUESTION, LiveServer, demo_store, make_settings

from service.app import create_app


def _metric(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
    assert m, name
    return float(m.group(1))


def _ask_many(url: str, n: int) -> list[httpx.Response]:
    with httpx.Client(timeout=60) as http, ThreadPoolExecutor(n) as pool:
        return list(
            pool.map(
                lambda _: http.post(f"{url}/v1/qa", json={"question": QUESTION, "k": 2}, headers=QA), range(n)
            )
        )


def test_concurrent_requests_share_decoding_batches(tmp_path: Path, tiny_student: Path) -> None:
    settings = make_settings(tmp_path, tiny_student, batch_max_wait_ms=50.0, batch_max_size=8)
    with LiveServer(create_app(settings, store=demo_store())) as server:
        responses = _ask_many(server.url, 8)
        assert [r.status_code for r in responses] == [200] * 8
        assert len({r.json()["request_id"] for r in responses}) == 8
        text = httpx.get(f"{server.url}/metrics").text
    batches = _metric(text, "kgr_batch_size_count")
    requests = _metric(text, "kgr_batch_size_sum")
    assert requests == 8 and batches < 8, (batches, requests)
    assert _metric(text, "kgr_generated_tokens_total") > 0
    assert 'kgr_http_requests_total{method="POST",route="/v1/qa",status="200"} 8.0' in text
    assert "kgr_generation_stage_seconds_bucket" in text


def test_full_queue_answers_503_with_retry_after(tmp_path: Path, tiny_student: Path) -> None:
    settings = make_settings(tmp_path, tiny_student, queue_size=1, batch_max_size=1, batch_max_wait_ms=0.0)
    with LiveServer(create_app(settings, store=demo_store())) as server:
        responses = _ask_many(server.url, 12)
    codes = [r.status_code for r in responses]
    assert 200 in codes and 503 in codes, codes
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.json()["code"] == "over_capacity" and refused.headers["retry-after"] == "1"


def test_request_timeout_is_504_with_a_clear_code(tmp_path: Path, tiny_student: Path) -> None:
    settings = make_settings(tmp_path, tiny_student, request_timeout_s=0.001)
    with TestClient(create_app(settings, store=demo_store())) as c:
        r = c.post("/v1/qa", json={"question": QUESTION, "k": 5}, headers=QA)
        assert r.status_code == 504, r.text
        assert r.json()["code"] == "request_timeout" and "retry-after" in r.headers


def test_livez_readyz_metrics(client: TestClient) -> None:
    assert client.get("/livez").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    checks = r.json()["checks"]
    assert checks["store"] and checks["student"] and checks["index"]
    client.post("/v1/qa", json={"question": QUESTION, "k": 1}, headers=QA)
    text = client.get("/metrics").text
    for name in (
        "kgr_http_request_seconds_bucket",
        "kgr_batch_queue_depth",
        "kgr_tokens_per_second",
        "kgr_generate_seconds_count",
        "kgr_http_requests_total",
    ):
        assert name in text, name


def test_readyz_is_503_without_a_student(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, None), store=demo_store())) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["checks"]["student"] is False
        r = c.post("/v1/qa", json={"question": QUESTION}, headers=QA)
        assert r.status_code == 503 and r.json()["code"] == "not_ready"


def test_unknown_routes_and_methods_use_the_error_body(client: TestClient) -> None:
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and set(r.json()) == {"code", "message", "request_id"}
    r = client.get("/v1/qa", headers=QA)
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    r = client.get("/livez", headers={"X-Request-ID": "my-trace-1"})
    assert r.headers["x-request-id"] == "my-trace-1"


def test_web_page_and_static_files_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "<svg" not in page.text and "/static/app.js" in page.text
    assert "http" not in client.get("/static/app.js").text.replace("http://www.w3.org/2000/svg", "")

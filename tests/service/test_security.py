"""Auth matrix, hashed keys, start-up refusals, rate limits, body and field limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from svc_helpers import ADMIN, QA, QA_KEY, QUESTION, LiveServer, demo_store, make_settings

from kg.errors import ConfigError
from kg.settings import DEFAULT_ADMIN_KEY, DEFAULT_QA_KEY, Settings
from service.app import create_app
from service.security import KeyRing, check_startup_secrets, hash_key

ADMIN_ROUTES = [
    ("POST", "/v1/admin/graphs", {"json": {"path": "/etc/hostname", "format": "tsv"}}),
    ("DELETE", "/v1/admin/graphs", {}),
    ("GET", "/v1/admin/graphs/stats", {}),
    ("GET", "/v1/admin/jobs/load-0000", {}),
    ("POST", "/v1/distill/jobs", {"json": {"kind": "verify", "params": {}}}),
    ("GET", "/v1/distill/jobs/distill-x", {}),
    ("POST", "/v1/distill/jobs/distill-x/cancel", {}),
]
NO_KEY: dict[str, str] = {}
WRONG = {"Authorization": "Bearer not-a-key"}


@pytest.mark.parametrize(("method", "url", "kwargs"), ADMIN_ROUTES)
def test_admin_routes_need_the_admin_scope(client: TestClient, method: str, url: str, kwargs: dict) -> None:
    before = client.get("/v1/admin/graphs/stats", headers=ADMIN).json()
    for headers, status, code in (
        (NO_KEY, 401, "unauthorized"),
        (WRONG, 401, "unauthorized"),
        (QA, 403, "forbidden"),
    ):
        r = client.request(method, url, headers=headers, **kwargs)
        assert r.status_code == status, (headers, r.text)
        assert r.json()["code"] == code
        assert r.json()["request_id"] == r.headers["x-request-id"]
    assert client.get("/v1/admin/graphs/stats", headers=ADMIN).json() == before  # nothing changed
    assert client.get("/v1/admin/jobs", headers=ADMIN).json() == []


def test_qa_needs_a_key_and_admin_implies_qa(client: TestClient) -> None:
    body = {"question": QUESTION, "k": 1}
    assert client.post("/v1/qa", json=body).status_code == 401
    assert client.post("/v1/qa", json=body, headers=WRONG).status_code == 401
    assert client.post("/v1/qa", json=body, headers={"X-API-Key": QA_KEY}).status_code == 200
    assert client.post("/v1/qa", json=body, headers=ADMIN).status_code == 200
    r = client.post("/v1/qa", json=body)
    assert r.headers["www-authenticate"] == "Bearer"


def test_keys_from_a_hashes_file(tmp_path: Path) -> None:
    file = tmp_path / "keys"
    file.write_text(f"# comment\nqa:{hash_key('file-qa')}\nadmin:{hash_key('file-admin')}\n")
    ring = KeyRing.from_settings(
        Settings(qa_api_key="a" * 20, admin_api_key="b" * 20, api_key_hashes_file=file)
    )
    assert ring.authenticate("file-qa", "qa").scopes == {"qa"}
    assert ring.authenticate("file-admin", "qa").allows("admin")
    file.write_text("superuser:abc\n")
    with pytest.raises(ConfigError):
        KeyRing.from_settings(Settings(api_key_hashes_file=file))


def test_refuses_default_secrets_beyond_localhost() -> None:
    for host in ("127.0.0.1", "localhost", "::1"):
        check_startup_secrets(Settings(host=host))
    with pytest.raises(ConfigError, match="KGR_ADMIN_API_KEY"):
        create_app(Settings(host="0.0.0.0", qa_api_key="q" * 20))
    with pytest.raises(ConfigError, match="KGR_QA_API_KEY"):
        check_startup_secrets(Settings(host="10.0.0.5", admin_api_key="a" * 20))
    with pytest.raises(ConfigError, match="KGR_NEO4J_PASSWORD"):
        check_startup_secrets(
            Settings(host="10.0.0.5", admin_api_key="a" * 20, qa_api_key="q" * 20, store="neo4j")
        )
    check_startup_secrets(Settings(host="10.0.0.5", admin_api_key="a" * 20, qa_api_key="q" * 20))
    assert DEFAULT_QA_KEY != DEFAULT_ADMIN_KEY


def test_rate_limit_per_key_gives_429_with_retry_after(tmp_path: Path, tiny_student: Path) -> None:
    settings = make_settings(tmp_path, tiny_student, rate_limit_per_minute=60, rate_limit_burst=2)
    with TestClient(create_app(settings, store=demo_store())) as c:
        codes = [c.get("/v1/admin/graphs/stats", headers=ADMIN).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        r = c.get("/v1/admin/graphs/stats", headers=ADMIN)
        assert r.status_code == 429 and r.json()["code"] == "rate_limited"
        assert int(r.headers["retry-after"]) >= 1
        # another key has its own bucket
        assert c.post("/v1/qa", json={"question": QUESTION, "k": 1}, headers=QA).status_code == 200
        # failed attempts are throttled per client address
        codes = [c.get("/v1/admin/graphs/stats", headers=WRONG).status_code for _ in range(3)]
        assert codes == [401, 401, 429]


@pytest.fixture
def small_body_client(tmp_path: Path, tiny_student: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, tiny_student, max_body_bytes=2000, max_question_chars=100)
    with TestClient(create_app(settings, store=demo_store())) as c:
        yield c


def test_oversized_bodies_are_413(small_body_client: TestClient) -> None:
    c = small_body_client
    big = b'{"question": "' + b"x" * 5000 + b'"}'
    r = c.post("/v1/qa", content=big, headers={**QA, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams in
        yield b'{"question": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}'

    r = c.post("/v1/qa", content=chunks(), headers={**QA, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    assert r.json()["request_id"]


def test_malformed_and_over_long_bodies_are_422(small_body_client: TestClient) -> None:
    c = small_body_client
    for raw in (b"{not json", b"[]", b'{"question": 5}', b'{"question": ""}', b'{"question": "a", "x": 1}'):
        r = c.post("/v1/qa", content=raw, headers={**QA, "Content-Type": "application/json"})
        assert r.status_code == 422, raw
        assert set(r.json()) == {"code", "message", "request_id"}
    r = c.post("/v1/qa", json={"question": "q" * 150}, headers=QA)  # under the schema max, over settings
    assert r.status_code == 422 and "longer than 100" in r.json()["message"]


def test_chunked_body_over_the_limit_on_a_real_server(tmp_path: Path, tiny_student: Path) -> None:
    """Through uvicorn's real HTTP parser, with Transfer-Encoding: chunked."""
    settings = make_settings(tmp_path, tiny_student, max_body_bytes=1000)
    with LiveServer(create_app(settings, store=demo_store())) as server:

        def chunks() -> Iterator[bytes]:
            for _ in range(50):
                yield b"z" * 100

        r = httpx.post(
            f"{server.url}/v1/qa", content=chunks(), headers={**QA, "Content-Type": "application/json"}
        )
        assert r.status_code == 413
        assert r.json()["code"] == "payload_too_large"
        ok = httpx.post(f"{server.url}/v1/qa", json={"question": QUESTION, "k": 1}, headers=QA, timeout=60)
        assert ok.status_code == 200

"""The service on the real Neo4j server: admin load, QA verified through Cypher, /readyz across an outage.

Runs its own Neo4j (``deploy/neo4j/neo4j.sh`` with a private port and data dir) so stopping it for the
outage test, and clearing or loading its graph, never disturbs the shared dev server on 7687 that other
test modules use. The server is always stopped at the end, even when a test fails.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from svc_helpers import ADMIN, DEMO, QA, QUESTION, REPO, TOPIC, free_port, make_settings, wait_job

from kg.neo4j_store import Neo4jStore
from kg.types import Path as KgPath
from service.app import create_app

pytestmark = pytest.mark.neo4j
SCRIPT = REPO / "deploy" / "neo4j" / "neo4j.sh"


class PrivateNeo4j:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.uri = f"bolt://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "KGR_NEO4J_PORT": str(self.port),
            "KGR_NEO4J_DATA_DIR": str(data_dir),
            "KGR_NEO4J_HEAP": "512m",
            "KGR_NEO4J_PAGECACHE": "128m",
            # CI shells may set a terminal width; the launcher once read its pid's command line through
            # `ps`, which cuts it to COLUMNS, and took the running server for a dead one
            "COLUMNS": "80",
        }
        self.env.pop("KGR_NEO4J_PASSWORD", None)

    def run(self, command: str) -> None:
        done = subprocess.run(
            ["bash", str(SCRIPT), command], env=self.env, capture_output=True, text=True, timeout=240
        )
        assert done.returncode == 0, f"neo4j.sh {command} failed: {done.stderr[-2000:]}"


@pytest.fixture(scope="module")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateNeo4j]:
    assert SCRIPT.exists(), f"{SCRIPT} is missing"
    server = PrivateNeo4j(tmp_path_factory.mktemp("neo4j-data"))
    try:
        server.run("up")
        yield server
    finally:
        server.run("down")


@pytest.fixture
def neo4j_client(neo4j_server: PrivateNeo4j, tmp_path: Path, tiny_student: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, tiny_student, store="neo4j", neo4j_uri=neo4j_server.uri)
    with TestClient(create_app(settings)) as c:
        c.delete("/v1/admin/graphs", headers=ADMIN)
        r = c.post("/v1/admin/graphs", json={"path": str(DEMO / "kb.tsv"), "format": "tsv"}, headers=ADMIN)
        job = wait_job(c, f"/v1/admin/jobs/{r.json()['id']}", timeout_s=180)
        assert job["state"] == "succeeded", job
        yield c


def test_qa_on_neo4j_with_paths_verified_by_the_server(
    neo4j_client: TestClient, neo4j_server: PrivateNeo4j
) -> None:
    c = neo4j_client
    stats = c.get("/v1/admin/graphs/stats", headers=ADMIN).json()
    assert stats["store"] == "neo4j" and stats["triples"] == 1211 and stats["generator"] == "hf"
    r = c.post("/v1/qa", json={"question": QUESTION, "k": 3}, headers=QA)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["paths"] and all(p["verified"] for p in body["paths"])
    with Neo4jStore(neo4j_server.uri, auth=("neo4j", "x")) as store:
        for p in body["paths"]:
            assert p["entities"][0] == TOPIC
            assert store.has_path(KgPath(tuple(p["entities"]), tuple(p["relations"])))
    assert c.get("/readyz").status_code == 200


def test_readyz_follows_neo4j_down_and_up_without_a_restart(
    neo4j_client: TestClient, neo4j_server: PrivateNeo4j
) -> None:
    c = neo4j_client
    assert c.get("/readyz").status_code == 200
    try:
        neo4j_server.run("down")
        r = c.get("/readyz")
        assert r.status_code == 503, r.text
        assert r.json()["checks"]["store"] is False and "retry-after" in r.headers
        r = c.post("/v1/qa", json={"question": QUESTION, "k": 1}, headers=QA)
        assert r.status_code == 503 and r.json()["code"] == "store_unavailable"
    finally:
        neo4j_server.run("up")
    deadline = time.monotonic() + 60
    while (r := c.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, r.text
        time.sleep(1)
    r = c.post("/v1/qa", json={"question": QUESTION, "k": 1}, headers=QA)
    assert r.status_code == 200 and r.json()["paths"][0]["verified"]

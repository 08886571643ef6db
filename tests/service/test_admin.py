"""Admin graph loads (server path and upload) as jobs, snapshot swap, stats, clear."""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi.testclient import TestClient
from svc_helpers import ADMIN, QA, QUESTION, TOPIC, demo_store, make_settings, wait_job

from service.app import create_app


def _extra_kb(tmp_path: Path) -> Path:
    file = tmp_path / "extra.tsv"
    file.write_text(f"{TOPIC}\tfavourite_food\tsauerkraut\nsauerkraut\torigin\tgermany\n")
    return file


def test_load_by_server_path_then_qa_sees_the_new_graph(client: TestClient, tmp_path: Path) -> None:
    before = client.get("/v1/admin/graphs/stats", headers=ADMIN).json()
    assert before["store"] == "memory" and before["triples"] == 1211 and before["generator"] == "hf"
    r = client.post(
        "/v1/admin/graphs", json={"path": str(_extra_kb(tmp_path)), "format": "tsv"}, headers=ADMIN
    )
    assert r.status_code == 202, r.text
    job = wait_job(client, f"/v1/admin/jobs/{r.json()['id']}")
    assert job["state"] == "succeeded", job
    assert job["result"]["rows"] == 2 and job["result"]["added"] == 2  # type: ignore[index]
    after = client.get("/v1/admin/graphs/stats", headers=ADMIN).json()
    assert after["triples"] == 1213 and after["graph_version"] == before["graph_version"] + 1
    q = {"question": "what does x eat", "topic_entities": ["sauerkraut"], "k": 3, "max_hops": 1}
    r = client.post("/v1/qa", json=q, headers=QA)
    assert r.status_code == 200, r.text
    assert r.json()["graph_version"] == after["graph_version"]
    assert {p["entities"][-1] for p in r.json()["paths"]} <= {TOPIC, "germany"}
    assert r.json()["paths"]


def test_upload_with_bad_rows_fails_cleanly_or_skips(client: TestClient) -> None:
    bad = b"a\tr\tb\nonly two\tfields\n"
    r = client.post(
        "/v1/admin/graphs", files={"file": ("bad.tsv", bad)}, data={"format": "tsv"}, headers=ADMIN
    )
    assert r.status_code == 202, r.text
    job = wait_job(client, f"/v1/admin/jobs/{r.json()['id']}")
    assert job["state"] == "failed" and "bad.tsv:2" in str(job["error"])
    assert client.get("/v1/admin/graphs/stats", headers=ADMIN).json()["triples"] == 1211  # nothing written
    r = client.post(
        "/v1/admin/graphs",
        files={"file": ("bad.tsv", bad)},
        data={"format": "tsv", "skip_bad": "true"},
        headers=ADMIN,
    )
    job = wait_job(client, f"/v1/admin/jobs/{r.json()['id']}")
    assert job["state"] == "succeeded" and job["result"]["skipped"] == 1  # type: ignore[index]
    assert client.get("/v1/admin/graphs/stats", headers=ADMIN).json()["triples"] == 1212


def test_bad_load_requests_are_422(client: TestClient, tmp_path: Path) -> None:
    cases = [
        {"json": {"path": str(tmp_path / "missing.tsv"), "format": "tsv"}},
        {"json": {"path": "x", "format": "csv"}},
        {"content": b"path=x", "headers": {"Content-Type": "text/plain"}},
        {"files": {"file": ("a.tsv", b"a\tb\tc\n")}, "data": {"format": "xml"}},
        {"files": {"other": ("a.tsv", b"a\tb\tc\n")}, "data": {"format": "tsv"}},
    ]
    for case in cases:
        headers = {**ADMIN, **case.pop("headers", {})}  # type: ignore[dict-item]
        r = client.post("/v1/admin/graphs", headers=headers, **case)  # type: ignore[arg-type]
        assert r.status_code == 422, (case, r.text)
    assert client.get("/v1/admin/jobs/load-nope", headers=ADMIN).status_code == 404


def test_qa_keeps_answering_during_a_load(client: TestClient, tmp_path: Path) -> None:
    big = tmp_path / "big.tsv"
    big.write_text("".join(f"e{i}\tlinks\te{i + 1}\n" for i in range(30_000)))
    r = client.post("/v1/admin/graphs", json={"path": str(big), "format": "tsv"}, headers=ADMIN)
    job_url = f"/v1/admin/jobs/{r.json()['id']}"
    answered: list[int] = []
    versions: set[int] = set()

    def ask() -> None:
        while client.get(job_url, headers=ADMIN).json()["state"] in ("queued", "running"):
            res = client.post("/v1/qa", json={"question": QUESTION, "k": 1}, headers=QA)
            answered.append(res.status_code)
            versions.add(res.json().get("graph_version", -1))

    t = threading.Thread(target=ask)
    t.start()
    job = wait_job(client, job_url, timeout_s=120)
    t.join(60)
    assert job["state"] == "succeeded", job
    assert answered and set(answered) == {200}, answered
    stats = client.get("/v1/admin/graphs/stats", headers=ADMIN).json()
    assert stats["triples"] == 1211 + 30_000


def test_clear_empties_the_graph_and_qa_reports_not_ready(client: TestClient) -> None:
    r = client.delete("/v1/admin/graphs", headers=ADMIN)
    assert r.status_code == 200 and r.json()["triples"] == 0 and r.json()["generator"] is None
    r = client.post("/v1/qa", json={"question": QUESTION}, headers=QA)
    assert r.status_code == 503 and r.json()["code"] == "not_ready"
    assert client.get("/readyz").status_code == 503


def test_import_roots_confine_server_side_paths(tmp_path: Path, tiny_student: Path) -> None:
    allowed = tmp_path / "imports"
    allowed.mkdir()
    inside = _extra_kb(allowed)
    outside = _extra_kb(tmp_path)
    settings = make_settings(tmp_path / "data", tiny_student, graph_import_roots=[allowed])
    with TestClient(create_app(settings, store=demo_store())) as c:
        for path in (str(outside), str(allowed / ".." / "extra.tsv")):
            r = c.post("/v1/admin/graphs", json={"path": path, "format": "tsv"}, headers=ADMIN)
            assert r.status_code == 422 and "outside the allowed import directories" in r.json()["message"]
        r = c.post("/v1/admin/graphs", json={"path": str(inside), "format": "tsv"}, headers=ADMIN)
        assert wait_job(c, f"/v1/admin/jobs/{r.json()['id']}")["state"] == "succeeded"

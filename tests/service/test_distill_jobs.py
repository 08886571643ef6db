"""Distillation jobs run `kgr distill ...` in worker processes; state persists; resubmit resumes; cancel."""

from __future__ import annotations

import json
import time
from pathlib import Path

from fastapi.testclient import TestClient
from svc_helpers import ADMIN, DEMO, demo_store, make_settings, wait_job

from service.app import create_app
from service.distill_jobs import to_argv


def _traces_params(limit: int) -> dict[str, object]:
    return {
        "kb": [str(DEMO / "kb.tsv")],
        "questions": [str(DEMO / "questions.jsonl")],
        "supervised": True,
        "hops": 2,
        "limit": limit,
        "out": "traces.jsonl",
    }


def test_to_argv_maps_params_to_flags() -> None:
    argv = to_argv("train", {"max_steps": 3, "kb": ["a", "b"], "lora": True, "no_resume": False, "out": "-x"})
    assert argv == [
        "distill",
        "train",
        "--kb",
        "a",
        "--kb",
        "b",
        "--lora",
        "--max-steps",
        "3",
        "--out",
        "./-x",
    ]


def test_traces_then_verify_jobs_in_worker_processes(client: TestClient, settings: object) -> None:
    r = client.post("/v1/distill/jobs", json={"kind": "traces", "params": _traces_params(30)}, headers=ADMIN)
    assert r.status_code == 202, r.text
    job = wait_job(client, f"/v1/distill/jobs/{r.json()['id']}")
    assert job["state"] == "succeeded", job
    folder = Path(client.app.state.kgr.settings.data_dir) / "distill" / str(job["id"])  # type: ignore[attr-defined]
    traces = (folder / "traces.jsonl").read_text().splitlines()
    assert len(traces) == 30
    # the same job again is the same job: nothing re-run
    again = client.post(
        "/v1/distill/jobs", json={"kind": "traces", "params": _traces_params(30)}, headers=ADMIN
    )
    assert again.status_code == 200 and again.json()["id"] == job["id"] and again.json()["attempts"] == 1
    params = {"kb": [str(DEMO / "kb.tsv")], "traces": str(folder / "traces.jsonl"), "out": "verified.jsonl"}
    r = client.post("/v1/distill/jobs", json={"kind": "verify", "params": params}, headers=ADMIN)
    job = wait_job(client, f"/v1/distill/jobs/{r.json()['id']}")
    assert job["state"] == "succeeded", job
    # state is persisted as JSON under the data dir
    record = json.loads((folder.parent.parent / "jobs" / "distill" / f"{job['id']}.json").read_text())
    assert record["state"] == "succeeded" and record["result"] == {"exit_code": 0}


def test_failed_job_reports_its_error_and_resubmit_runs_it_again(client: TestClient) -> None:
    params = {"kb": ["/no/such/kb.tsv"], "traces": "missing.jsonl", "out": "v.jsonl"}
    r = client.post("/v1/distill/jobs", json={"kind": "verify", "params": params}, headers=ADMIN)
    job = wait_job(client, f"/v1/distill/jobs/{r.json()['id']}")
    assert job["state"] == "failed" and "exit code 2" in str(job["error"])
    r = client.post("/v1/distill/jobs", json={"kind": "verify", "params": params}, headers=ADMIN)
    assert r.status_code == 202 and r.json()["attempts"] == 2
    wait_job(client, f"/v1/distill/jobs/{r.json()['id']}")
    bad = client.post("/v1/distill/jobs", json={"kind": "verify", "params": {"Bad-Name": 1}}, headers=ADMIN)
    assert bad.status_code == 422


def test_cancel_a_running_training_then_resume_it(tmp_path: Path, tiny_student: Path) -> None:
    settings = make_settings(tmp_path, tiny_student)
    with TestClient(create_app(settings, store=demo_store())) as c:
        r = c.post("/v1/distill/jobs", json={"kind": "traces", "params": _traces_params(40)}, headers=ADMIN)
        traces_job = wait_job(c, f"/v1/distill/jobs/{r.json()['id']}")
        traces = settings.data_dir / "distill" / str(traces_job["id"]) / "traces.jsonl"
        train = {
            "kb": [str(DEMO / "kb.tsv")],
            "traces": [str(traces)],
            "out": "student",
            "hidden_size": 64,
            "heads": 1,
            "layers": 1,
            "intermediate": 64,
            "vocab_size": 500,
            "max_steps": 100_000,
            "batch_size": 2,
        }
        r = c.post("/v1/distill/jobs", json={"kind": "train", "params": train}, headers=ADMIN)
        job_id = r.json()["id"]
        time.sleep(1.0)
        assert c.get(f"/v1/distill/jobs/{job_id}", headers=ADMIN).json()["state"] == "running"
        r = c.post(f"/v1/distill/jobs/{job_id}/cancel", headers=ADMIN)
        assert r.json()["state"] == "cancelled"
        deadline = time.monotonic() + 30
        while (job := c.get(f"/v1/distill/jobs/{job_id}", headers=ADMIN).json())["pid"] is not None:
            assert time.monotonic() < deadline, "the worker process did not stop"
            time.sleep(0.1)
        assert job["state"] == "cancelled"
        r = c.post("/v1/distill/jobs", json={"kind": "train", "params": train}, headers=ADMIN)
        assert r.status_code == 202 and r.json()["attempts"] == 2 and r.json()["state"] == "running"
        c.post(f"/v1/distill/jobs/{job_id}/cancel", headers=ADMIN)
        assert wait_job(c, f"/v1/distill/jobs/{job_id}")["state"] == "cancelled"
    # a new app over the same data dir sees the persisted jobs
    with TestClient(create_app(settings, store=demo_store())) as c:
        assert c.get(f"/v1/distill/jobs/{job_id}", headers=ADMIN).json()["state"] == "cancelled"
        assert c.get("/v1/distill/jobs/distill-nope", headers=ADMIN).status_code == 404

"""`kgr serve`: key hashing, refusing exposed defaults, and a real server process end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from svc_helpers import DEMO, QA, QA_KEY, QUESTION, REPO, free_port

from service.cli import main
from service.security import hash_key


def test_hash_key_prints_a_hashes_file_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--hash-key", "s3cret", "--scope", "admin"]) == 0
    assert capsys.readouterr().out.strip() == f"admin:{hash_key('s3cret')}"


def test_refuses_to_serve_beyond_localhost_with_default_keys(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("KGR_QA_API_KEY", "KGR_ADMIN_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2
    err = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert err["error"] == "config_error" and "KGR_ADMIN_API_KEY" in err["message"]


@pytest.mark.slow
def test_kgr_serve_process_answers_questions(tmp_path: Path, tiny_student: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "KGR_QA_API_KEY": QA_KEY, "KGR_ADMIN_API_KEY": "x" * 24}
    kgr = [sys.executable, "-m", "service.cli"]
    load = subprocess.run(
        [*kgr, "graph", "load", str(DEMO / "kb.tsv"), "--format", "tsv", "--data-dir", str(data)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert load.returncode == 0, load.stderr
    port = free_port()
    proc = subprocess.Popen(
        [*kgr, "serve", "--port", str(port), "--data-dir", str(data), "--student", str(tiny_student)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "kgr serve did not become ready"
            time.sleep(0.5)
        r = httpx.post(f"{url}/v1/qa", json={"question": QUESTION, "k": 2}, headers=QA, timeout=60)
        assert r.status_code == 200 and r.json()["paths"][0]["verified"]
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert json.loads(out.splitlines()[0])["serving"] == f"{url}/"
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    qa_logs = [entry for entry in logs if entry.get("path") == "/v1/qa"]
    assert qa_logs and qa_logs[0]["status"] == 200 and qa_logs[0]["request_id"] == r.json()["request_id"]

"""The teacher client against a REAL OpenAI-compatible server: vLLM (CPU build) serving a tiny model.

The model is random (built from a config here), so its traces are junk: the test checks the client's
contract with a real server (requests, usage accounting, resumability, concurrency) and that
verification drops traces that cite no KG path.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path as FsPath

import httpx
import pytest

from distill.teacher import OpenAITeacher, teacher_jobs
from distill.traces import Question, TraceWriter, done_ids, iter_traces
from distill.verify import Verifier
from kg.memory_store import MemoryStore

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
MODEL = "tiny-teacher"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory: pytest.TempPathFactory, pq_store: MemoryStore) -> Iterator[str]:
    from distill.student_init import init_student, student_texts_from_store, train_tokenizer

    root = tmp_path_factory.mktemp("teacher")
    tok = train_tokenizer(student_texts_from_store(pq_store), root / "tok", 1000)
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    init_student(tok, root / "model", hidden_size=128, layers=1, heads=2, intermediate=256, max_position=2048)
    port = _free_port()
    log = (root / "vllm.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(root / "model"),
            "--served-model-name",
            MODEL,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--gpu-memory-utilization",
            "0.3",
            "--max-model-len",
            "2048",
            "--dtype",
            "float32",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"},
    )
    try:
        deadline = time.monotonic() + 400
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"vLLM server exited {proc.returncode}: {(root / 'vllm.log').read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("vLLM server did not become healthy in 400 s")
            time.sleep(2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_teacher_against_vllm_server(
    vllm_server: str, tmp_path: FsPath, pq_store: MemoryStore, pq_questions: list[Question]
) -> None:
    questions = pq_questions[:6]
    out = tmp_path / "traces.jsonl"
    teacher = OpenAITeacher(vllm_server, MODEL, concurrency=3, max_tokens=16, timeout_s=120)
    jobs = teacher_jobs(pq_store, questions[:4], hops=2, max_candidates=10, skip=set())
    with TraceWriter(out) as writer:
        counts = teacher.run(jobs, writer, progress=False)
    assert counts["ok"] == 4 and counts["failed"] == 0
    traces = list(iter_traces(out))
    assert {t.id for t in traces} == {q.id for q in questions[:4]}
    for t in traces:
        assert t.teacher == f"openai:{MODEL}" and t.error is None and t.text
        assert t.usage["completion_tokens"] == 16 and t.usage["prompt_tokens"] > 50
        assert t.usage["total_tokens"] == t.usage["prompt_tokens"] + 16
    # resume: only the two new questions are sent
    jobs = teacher_jobs(pq_store, questions, hops=2, max_candidates=10, skip=done_ids(out))
    assert [q.id for q, _ in jobs] == [q.id for q in questions[4:]]
    with TraceWriter(out) as writer:
        assert teacher.run(jobs, writer, progress=False)["ok"] == 2
    assert done_ids(out) == {q.id for q in questions}
    # an untrained model cites no KG path: verification keeps nothing
    verifier = Verifier(pq_store)
    kept = [t for t in verifier.verify_all(iter_traces(out)) if t.verification and t.verification.kept]
    assert kept == [] and verifier.report.traces_in == 6

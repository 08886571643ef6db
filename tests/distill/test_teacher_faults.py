"""The OpenAI-compatible teacher client against a scripted local server: only for faults a real server
does not produce on demand (timeouts, 429 with Retry-After, 5xx, malformed bodies)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path as FsPath

import pytest

from distill.teacher import OpenAITeacher, teacher_jobs
from distill.traces import Question, TraceWriter, done_ids, iter_traces
from kg.memory_store import MemoryStore

GOOD = "Cited <PATH> martha_bulloch -> spouse -> theodore_roosevelt_sr </PATH>\nAnswer: theodore_roosevelt_sr"


class Script:
    """Per question: a list of steps, each (status, body, headers, delay_s); the last one repeats."""

    def __init__(self) -> None:
        self.steps: dict[str, list[tuple[int, str, dict[str, str], float]]] = {}
        self.calls: dict[str, list[float]] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    def next(self, key: str) -> tuple[int, str, dict[str, str], float]:
        with self.lock:
            self.calls.setdefault(key, []).append(time.monotonic())
            steps = self.steps.get(key) or [(200, ok_body(), {}, 0.0)]
            return steps.pop(0) if len(steps) > 1 else steps[0]


def ok_body(text: str = GOOD) -> str:
    return json.dumps(
        {
            "choices": [{"message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        }
    )


@pytest.fixture()
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            assert self.path == "/v1/chat/completions"
            user = body["messages"][-1]["content"]
            key = user.split("\n")[0].removeprefix("Question: ")
            with script.lock:
                script.in_flight += 1
                script.max_in_flight = max(script.max_in_flight, script.in_flight)
            status, text, headers, delay = script.next(key)
            time.sleep(delay)
            with script.lock:
                script.in_flight -= 1
            try:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text.encode())
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and went away

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", script
    httpd.shutdown()
    httpd.server_close()


def _question(key: str) -> Question:
    return Question(
        id=key, question=key, topic_entities=["martha_bulloch"], answers=["theodore_roosevelt_sr"]
    )


def _run(url: str, keys: list[str], out: FsPath, **kw: object) -> dict[str, int]:
    teacher = OpenAITeacher(url, "fake", backoff_s=0.01, max_backoff_s=2.0, timeout_s=0.5, **kw)  # type: ignore[arg-type]
    jobs = [
        (q, [{"role": "user", "content": f"Question: {q.question}\nTopic entities: x"}])
        for q in map(_question, keys)
    ]
    with TraceWriter(out) as writer:
        return teacher.run(jobs, writer, progress=False)


def _traces(out: FsPath) -> dict[str, object]:
    return {t.id: t for t in iter_traces(out)}


def test_retries_5xx_then_succeeds(server: tuple[str, Script], tmp_path: FsPath) -> None:
    url, script = server
    script.steps["flaky"] = [(500, "{}", {}, 0.0), (503, "{}", {}, 0.0), (200, ok_body(), {}, 0.0)]
    counts = _run(url, ["flaky"], tmp_path / "t.jsonl")
    assert counts["ok"] == 1 and len(script.calls["flaky"]) == 3
    trace = next(iter_traces(tmp_path / "t.jsonl"))
    assert trace.error is None and trace.answer == "theodore_roosevelt_sr" and len(trace.paths) == 1
    assert trace.usage == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def test_honours_retry_after_on_429(server: tuple[str, Script], tmp_path: FsPath) -> None:
    url, script = server
    script.steps["busy"] = [(429, "{}", {"Retry-After": "1"}, 0.0), (200, ok_body(), {}, 0.0)]
    _run(url, ["busy"], tmp_path / "t.jsonl")
    first, second = script.calls["busy"]
    assert second - first >= 0.95  # waited what the server asked, not the 10 ms backoff


def test_timeout_is_retried(server: tuple[str, Script], tmp_path: FsPath) -> None:
    url, script = server
    script.steps["slow"] = [(200, ok_body(), {}, 1.5), (200, ok_body(), {}, 0.0)]
    counts = _run(url, ["slow"], tmp_path / "t.jsonl")
    assert counts == {"ok": 1, "failed": 0, "prompt_tokens": 11, "completion_tokens": 7}
    assert len(script.calls["slow"]) == 2


def test_malformed_and_client_errors_are_recorded_failures(
    server: tuple[str, Script], tmp_path: FsPath
) -> None:
    url, script = server
    script.steps["garbled"] = [(200, "this is not json", {}, 0.0)]
    script.steps["nochoices"] = [(200, json.dumps({"choices": []}), {}, 0.0)]
    script.steps["bad"] = [(400, '{"error": "bad request"}', {}, 0.0)]
    script.steps["down"] = [(503, "{}", {}, 0.0)]
    out = tmp_path / "t.jsonl"
    counts = _run(url, ["garbled", "nochoices", "bad", "down", "fine"], out, max_retries=2)
    assert counts["ok"] == 1 and counts["failed"] == 4
    traces = _traces(out)
    assert "malformed" in str(traces["garbled"].error) and "malformed" in str(traces["nochoices"].error)  # type: ignore[attr-defined]
    assert "HTTP 400" in str(traces["bad"].error) and len(script.calls["bad"]) == 1  # type: ignore[attr-defined]
    assert "gave up after 3" in str(traces["down"].error) and len(script.calls["down"]) == 3  # type: ignore[attr-defined]
    # resume: only the failed ones are asked again
    assert done_ids(out) == {"fine"}
    script.steps["down"] = [(200, ok_body(), {}, 0.0)]
    _run(url, ["down"], out)
    assert done_ids(out) == {"fine", "down"}


def test_concurrency_is_bounded(server: tuple[str, Script], tmp_path: FsPath) -> None:
    url, script = server
    keys = [f"q{i}" for i in range(8)]
    for k in keys:
        script.steps[k] = [(200, ok_body(), {}, 0.15)]
    counts = _run(url, keys, tmp_path / "t.jsonl", concurrency=3)
    assert counts["ok"] == 8 and script.max_in_flight == 3


def test_prompt_carries_capped_candidate_paths(pq_store: MemoryStore, pq_questions: list[Question]) -> None:
    q = next(q for q in pq_questions if len(pq_store.paths_from(q.topic_entities, 2, 100)) > 5)
    (job,) = teacher_jobs(pq_store, [q], hops=2, max_candidates=5, skip=set())
    user = job[1][-1]["content"]
    assert q.question in user and user.count("<PATH>") == 5
    assert teacher_jobs(pq_store, [q], 2, 5, skip={q.id}) == []

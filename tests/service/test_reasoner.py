"""The optional LLM second stage against a stand-in OpenAI-compatible server (a general LLM endpoint
cannot run here); the service, its HTTP client and SSE streaming are real."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from svc_helpers import QA, QUESTION, LiveServer, demo_store, make_settings

from service.app import create_app

SEEN: list[dict[str, Any]] = []


def _fake_llm() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        SEEN.append(body)
        prompt = body["messages"][-1]["content"]
        first_path = prompt.split("\n")[1]
        answer = first_path.split(" -> ")[-1].split(" (score")[0]
        text = f"{answer}\nBecause of path 1."
        if not body.get("stream"):
            return {
                "id": "x",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                ],
            }

        def chunks() -> Iterator[str]:
            for piece in (text[:5], text[5:]):
                delta = {
                    "id": "x",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": body["model"],
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                }
                yield f"data: {json.dumps(delta)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    return app


@pytest.fixture(scope="module")
def llm() -> Iterator[LiveServer]:
    with LiveServer(_fake_llm()) as server:
        yield server


def test_llm_reasons_over_the_k_paths(llm: LiveServer, tmp_path: Path, tiny_student: Path) -> None:
    settings = make_settings(
        tmp_path, tiny_student, reasoner_url=f"{llm.url}/v1", reasoner_model="general-llm"
    )
    with TestClient(create_app(settings, store=demo_store())) as c:
        r = c.post("/v1/qa", json={"question": QUESTION, "k": 3}, headers=QA)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["answer_method"] == "llm"
        assert body["answer"] == body["paths"][0]["entities"][-1]
        assert body["reasoning"].endswith("Because of path 1.")
        assert "reasoner" in body["timings_ms"]
        prompt = SEEN[-1]["messages"][-1]["content"]
        assert QUESTION in prompt and body["paths"][0]["text"] in prompt
        assert SEEN[-1]["model"] == "general-llm"
        # reason=false: the vote only
        r = c.post("/v1/qa", json={"question": QUESTION, "k": 3, "reason": False}, headers=QA)
        assert r.json()["answer_method"] == "vote"

        with c.stream("POST", "/v1/qa/stream", json={"question": QUESTION, "k": 2}, headers=QA) as s:
            text = "".join(s.iter_text())
        events = [block.split("\n")[0].removeprefix("event: ") for block in text.strip().split("\n\n")]
        assert events == ["links", "paths", "answers", "token", "token", "answer", "done"]


def test_unreachable_llm_fails_with_a_clear_error(tmp_path: Path, tiny_student: Path) -> None:
    settings = make_settings(
        tmp_path, tiny_student, reasoner_url="http://127.0.0.1:9/v1", reasoner_timeout_s=2.0
    )
    with TestClient(create_app(settings, store=demo_store())) as c:
        r = c.post("/v1/qa", json={"question": QUESTION, "k": 1}, headers=QA)
        assert r.status_code == 502 and r.json()["code"] == "upstream_error"

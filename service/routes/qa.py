"""``POST /v1/qa`` and its streaming variant ``POST /v1/qa/stream`` (server-sent events)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from decoding.types import GenerationRequest, GenerationResult, ScoredPath
from kg.errors import InputError, KgrError
from service.deps import QaCaller, SnapshotDep, StateDep
from service.errors import NotReadyError, error_body, request_id_of, status_of
from service.linking import EntityLink
from service.schemas import ERROR_RESPONSES, AnswerOut, LinkOut, PathOut, QARequest, QAResponse
from service.state import AppState, Snapshot

router = APIRouter(prefix="/v1/qa", tags=["qa"])


@dataclass
class Retrieval:
    links: list[EntityLink]
    result: GenerationResult
    paths: list[ScoredPath]  # re-verified against the snapshot's store
    backend: str
    timings_ms: dict[str, float]


def _check_limits(state: AppState, body: QARequest) -> tuple[int, int]:
    s = state.settings
    if len(body.question) > s.max_question_chars:
        raise InputError(f"question longer than {s.max_question_chars} characters")
    k = body.k if body.k is not None else s.default_k
    hops = body.max_hops if body.max_hops is not None else s.default_hops
    if k > s.max_k:
        raise InputError(f"k must be at most {s.max_k}")
    if hops > s.max_hops:
        raise InputError(f"max_hops must be at most {s.max_hops}")
    return k, hops


def _topics(snap: Snapshot, body: QARequest) -> list[EntityLink]:
    if body.topic_entities:
        unknown = [t for t in body.topic_entities if not snap.store.has_entity(t)]
        if unknown:
            raise InputError(f"unknown topic entities: {', '.join(repr(u) for u in unknown[:5])}")
        return [EntityLink(t, t, "given", 1.0) for t in dict.fromkeys(body.topic_entities)]
    links = snap.linker.link(body.question)
    if not links:
        raise InputError("no knowledge-graph entity found in the question; pass topic_entities")
    return links


async def retrieve(state: AppState, snap: Snapshot, body: QARequest) -> Retrieval:
    t0 = time.perf_counter()
    k, hops = _check_limits(state, body)
    if snap.generator is None:
        raise NotReadyError(f"no path generator is loaded ({snap.note})")
    backend = snap.generator.backend
    if body.backend is not None and body.backend != backend:
        raise InputError(f"backend {body.backend!r} is not loaded; this service runs {backend!r}")
    links = await run_in_threadpool(_topics, snap, body)
    t_link = time.perf_counter()
    request = GenerationRequest(body.question, tuple(link.entity for link in links), k=k, max_hops=hops)
    result = await state.batcher.submit(snap.generator, request, state.settings.request_timeout_s)
    t_gen = time.perf_counter()
    store = snap.store
    verified = await run_in_threadpool(
        lambda: [sp.verified and store.has_path(sp.path) for sp in result.paths]
    )
    paths = [
        ScoredPath(sp.path, sp.answer, sp.score, ok) for sp, ok in zip(result.paths, verified, strict=True)
    ]
    t_end = time.perf_counter()
    timings = {
        "linking": (t_link - t0) * 1000,
        "generation": (t_gen - t_link) * 1000,
        "verification": (t_end - t_gen) * 1000,
        **{f"generator.{key}": float(v) for key, v in result.timings_ms.items()},
    }
    return Retrieval(links, result, paths, backend, timings)


def _answers(r: Retrieval, exclude_topics: bool) -> list[AnswerOut]:
    index = {(sp.path, sp.answer): i for i, sp in enumerate(r.paths)}
    # topic links are KG names, as are path ends, so exact comparison is the right one
    topics = {link.entity for link in r.links} if exclude_topics else set()
    out = []
    for hyp in r.result.answers:
        if hyp.answer in topics:
            continue
        idx = sorted(i for sp in hyp.paths if (i := index.get((sp.path, sp.answer))) is not None)
        out.append(AnswerOut(answer=hyp.answer, score=hyp.score, path_indexes=idx))
    return out


def _paths_json(r: Retrieval) -> list[PathOut]:
    return [PathOut.model_validate(sp.to_json()) for sp in r.paths]


@router.post("", response_model=QAResponse, responses=ERROR_RESPONSES)
async def answer_question(
    caller: QaCaller, body: QARequest, request: Request, state: StateDep, snap: SnapshotDep
) -> QAResponse:
    """Answer a question with KG paths from the student (and the LLM reasoner when configured)."""
    r = await retrieve(state, snap, body)
    answers = _answers(r, body.exclude_topic_answers)
    method, final, reasoning = "none", None, None
    if answers:
        method, final = "vote", answers[0].answer
    if state.reasoner is not None and body.reason:
        t0 = time.perf_counter()
        reasoning = await state.reasoner.answer(body.question, r.paths)
        r.timings_ms["reasoner"] = (time.perf_counter() - t0) * 1000
        method, final = "llm", reasoning.splitlines()[0].strip() if reasoning else final
    return QAResponse(
        question=body.question,
        topic_entities=[LinkOut.model_validate(link.to_json()) for link in r.links],
        answer=final,
        answer_method=method,
        reasoning=reasoning,
        answers=answers,
        paths=_paths_json(r),
        backend=r.backend,
        graph_version=snap.version,
        timings_ms={key: round(v, 3) for key, v in r.timings_ms.items()},
        request_id=request_id_of(request),
    )


def _sse(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


@router.post("/stream", responses={200: {"content": {"text/event-stream": {}}}, **ERROR_RESPONSES})
async def answer_question_stream(
    caller: QaCaller, body: QARequest, request: Request, state: StateDep, snap: SnapshotDep
) -> StreamingResponse:
    """Server-sent events: ``links``, ``paths``, then ``token`` deltas (LLM) or one ``answer``, ``done``."""
    rid = request_id_of(request)
    # retrieval errors (bad input, no capacity) still get a plain JSON error status
    r = await retrieve(state, snap, body)
    reasoner = state.reasoner if body.reason else None

    async def events() -> AsyncIterator[bytes]:
        yield _sse("links", [link.to_json() for link in r.links])
        yield _sse("paths", [p.model_dump() for p in _paths_json(r)])
        answers = _answers(r, body.exclude_topic_answers)
        yield _sse("answers", [a.model_dump() for a in answers])
        try:
            if reasoner is not None:
                text = []
                async for delta in reasoner.stream(body.question, r.paths):
                    text.append(delta)
                    yield _sse("token", delta)
                full = "".join(text)
                yield _sse(
                    "answer", {"answer": full.splitlines()[0].strip() if full else None, "method": "llm"}
                )
            else:
                top = answers[0].answer if answers else None
                yield _sse("answer", {"answer": top, "method": "vote" if top else "none"})
        except KgrError as exc:
            yield _sse("error", {**error_body(exc.code, str(exc), rid), "status": status_of(exc)})
        yield _sse("done", {"request_id": rid, "graph_version": snap.version})

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

"""Operations: liveness, readiness and Prometheus metrics (no authentication; expose them internally)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from service.deps import StateDep
from service.state import AppState

router = APIRouter(tags=["ops"])


@router.get("/livez")
async def livez() -> dict[str, str]:
    """The process is up and its event loop answers."""
    return {"status": "ok"}


def _checks(state: AppState) -> dict[str, Any]:
    snap = state.snapshot
    checks: dict[str, Any] = {"snapshot": snap is not None}
    if snap is None:
        checks["reason"] = state.startup_error or "starting"
        return checks
    ping = getattr(snap.store, "ping", None)
    if callable(ping):
        try:
            checks["store"] = bool(ping())  # Neo4jStore.ping answers False when the server is down
        except Exception as exc:  # any failure to reach the store means not ready
            checks["store"] = False
            checks["store_error"] = str(exc)[:200]
        if not checks["store"]:
            checks.setdefault("store_error", f"{snap.store.kind} store not reachable")
    else:
        checks["store"] = True
    checks["student"] = snap.generator is not None
    if snap.generator is None:
        checks["student_error"] = snap.note
    checks["index"] = snap.generator is not None
    checks["graph_version"] = snap.version
    return checks


@router.get("/readyz", responses={503: {"description": "not ready; the body says which check failed"}})
async def readyz(state: StateDep) -> JSONResponse:
    """Ready to answer: store reachable, student loaded, decoding index built."""
    checks = await run_in_threadpool(_checks, state)
    ok = all(checks.get(k) is True for k in ("snapshot", "store", "student", "index"))
    headers = {} if ok else {"Retry-After": "5"}
    return JSONResponse(
        {"status": "ready" if ok else "not_ready", "checks": checks},
        status_code=200 if ok else 503,
        headers=headers,
    )


@router.get("/metrics", response_class=Response)
async def metrics(state: StateDep) -> Response:
    state.metrics.queue_depth.set(state.batcher.depth)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

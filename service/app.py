"""``create_app``: the FastAPI application factory (thin: wiring only; each resource has a route module)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from decoding.types import PathGenerator
from kg.errors import KgrError
from kg.factory import open_store
from kg.settings import Settings, get_settings
from kg.store import GraphStore
from service.batching import MicroBatcher
from service.distill_jobs import DistillJobs
from service.errors import install_error_handlers
from service.graph_jobs import GraphJobs
from service.jobs import JobStore
from service.metrics import Metrics
from service.middleware import BodyLimitMiddleware, RequestContextMiddleware
from service.reasoner import Reasoner
from service.routes import admin, distill, ops, qa, web
from service.security import KeyRing, RateLimiter, check_startup_secrets
from service.state import AppState, GeneratorFactory, student_factory

log = logging.getLogger("kgr.service")
UPLOAD_PATH = "/v1/admin/graphs"
RETRY_STARTUP_S = 5.0


def _open_graph(settings: Settings) -> tuple[GraphStore, Path | None]:
    if settings.demo:
        from service.demo import ensure_demo

        store, student_dir = ensure_demo(settings)
        return store, student_dir
    return open_store(settings), settings.student_dir


async def _start(state: AppState, store: GraphStore | None, generator: PathGenerator | None) -> None:
    """Open the store and build the first snapshot; retried until it works (e.g. Neo4j still starting)."""
    while True:
        try:
            if store is None:
                store, student_dir = await run_in_threadpool(_open_graph, state.settings)
                if state.factory is None and student_dir is not None:
                    state.factory = student_factory(
                        student_dir,
                        state.settings.backend,
                        state.settings.batch_max_size,
                        state.settings.min_beams,
                    )
            assert store is not None
            await run_in_threadpool(state.swap, store, generator)
            state.startup_error = None
            log.info("ready", extra={"graph_version": state.current().version})
            return
        except KgrError as exc:
            state.startup_error = f"{exc.code}: {exc}"
        except Exception as exc:  # keep serving /livez and /readyz, report why we are not ready
            log.exception("start-up failed")
            state.startup_error = f"{type(exc).__name__}: {exc}"
        log.warning("not ready, retrying", extra={"reason": state.startup_error})
        await asyncio.sleep(RETRY_STARTUP_S)


def create_app(
    settings: Settings | None = None,
    *,
    store: GraphStore | None = None,
    generator: PathGenerator | None = None,
    generator_factory: GeneratorFactory | None = None,
    reasoner: Reasoner | None = None,
) -> FastAPI:
    """Build the app. Without ``store`` the lifespan opens the configured one (memory by default);
    without ``generator_factory`` generators come from ``settings.student_dir``. ``generator`` serves the
    first snapshot only (it was indexed on ``store``)."""
    settings = settings or get_settings()
    check_startup_secrets(settings)
    metrics = Metrics()
    factory = generator_factory
    if factory is None and settings.student_dir is not None and not settings.demo:
        factory = student_factory(
            settings.student_dir, settings.backend, settings.batch_max_size, settings.min_beams
        )
    state = AppState(
        settings=settings,
        metrics=metrics,
        keyring=KeyRing.from_settings(settings),
        limiter=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst),
        batcher=MicroBatcher(
            metrics, settings.batch_max_size, settings.batch_max_wait_ms, settings.queue_size
        ),
        reasoner=reasoner if reasoner is not None else Reasoner.from_settings(settings),
        factory=factory,
        owns_store=store is None,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        starter = asyncio.create_task(_start(state, store, generator))
        try:
            # a short start (memory store, small index) completes before the first request is served
            await asyncio.wait({starter}, timeout=settings.startup_wait_s)
            yield
        finally:
            starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starter
            state.batcher.close()
            app.state.graph_jobs.close()
            snap = state.snapshot
            if snap is not None:
                if snap.generator is not None:
                    snap.generator.close()
                if state.owns_store:
                    snap.store.close()
            if state.reasoner is not None:
                await state.reasoner.close()

    app = FastAPI(
        title="kgreason",
        version="0.1.0",
        summary="Knowledge-graph grounded question answering with graph-constrained decoding",
        lifespan=lifespan,
    )
    app.state.kgr = state
    app.state.graph_jobs = GraphJobs(state, JobStore(settings.data_dir / "jobs" / "admin"))
    app.state.distill_jobs = DistillJobs(settings.data_dir, metrics)
    install_error_handlers(app)
    for module in (qa, admin, distill, ops, web):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=web.STATIC_DIR), name="static")

    def body_limit(path: str) -> int:
        return settings.max_upload_bytes if path == UPLOAD_PATH else settings.max_body_bytes

    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)  # outermost: ids for every response
    return app

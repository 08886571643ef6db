"""Admin API (scope ``admin``): load graphs as background jobs, follow jobs, clear, stats."""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from kg.errors import InputError
from kg.loaders import FORMATS
from service.deps import AdminCaller, StateDep
from service.graph_jobs import GraphJobs
from service.schemas import ERROR_RESPONSES, ErrorOut, GraphLoadRequest, GraphStatsOut, JobOut

router = APIRouter(prefix="/v1/admin", tags=["admin"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "no such job"}}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def get_graph_jobs(request: Request) -> GraphJobs:
    jobs: GraphJobs = request.app.state.graph_jobs
    return jobs


GraphJobsDep = Annotated[GraphJobs, Depends(get_graph_jobs)]

_LOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": GraphLoadRequest.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "format"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "format": {"type": "string", "enum": list(FORMATS)},
                        "skip_bad": {"type": "boolean"},
                        "store": {"type": "string", "enum": ["memory", "neo4j"]},
                    },
                }
            },
        },
    }
}


def _as_bool(value: object) -> bool:
    text = str(value or "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise InputError(f"skip_bad must be true or false, not {value!r}")


async def _from_upload(request: Request, graph_jobs: GraphJobs) -> JobOut:
    max_size = graph_jobs.state.settings.max_upload_bytes
    form = await request.form(max_files=1, max_fields=10, max_part_size=max_size)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InputError("multipart upload needs a 'file' part")
        fmt = str(form.get("format") or "")
        if fmt not in FORMATS:
            raise InputError(f"format must be one of {', '.join(FORMATS)}")
        target = form.get("store")
        if target not in (None, "", "memory", "neo4j"):
            raise InputError("store must be memory or neo4j")
        skip_bad = _as_bool(form.get("skip_bad"))
        folder = graph_jobs.state.settings.data_dir / "uploads" / uuid.uuid4().hex
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / (_SAFE_NAME.sub("_", upload.filename or "upload")[:100] or "upload")

        def save() -> None:
            with open(dest, "wb") as out:
                upload.file.seek(0)
                shutil.copyfileobj(upload.file, out, 1 << 20)

        await run_in_threadpool(save)
    finally:
        await form.close()
    job = graph_jobs.submit_load(dest, fmt, skip_bad, str(target) if target else None, delete_after=True)
    return JobOut.model_validate(job.to_json())


@router.post(
    "/graphs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    responses=ERROR_RESPONSES,
    openapi_extra=_LOAD_BODY,
)
async def load_graph(caller: AdminCaller, request: Request, graph_jobs: GraphJobsDep) -> JobOut:
    """Start loading a graph file (multipart upload, or JSON naming a file on the server)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return await _from_upload(request, graph_jobs)
    if content_type != "application/json":
        raise InputError("send application/json ({path, format}) or multipart/form-data (file, format)")
    raw = await request.body()
    try:
        body = GraphLoadRequest.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors()
        where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
        message = errors[0]["msg"] if errors else "invalid"
        raise InputError(f"{where or 'body'}: {message}") from None
    path = await run_in_threadpool(graph_jobs.check_path, Path(body.path))
    job = graph_jobs.submit_load(path, body.format, body.skip_bad, body.store)
    return JobOut.model_validate(job.to_json())


@router.get("/jobs", response_model=list[JobOut], responses=ERROR_RESPONSES)
async def list_jobs(caller: AdminCaller, graph_jobs: GraphJobsDep) -> list[JobOut]:
    return [JobOut.model_validate(j.to_json()) for j in graph_jobs.jobs.all()]


@router.get("/jobs/{job_id}", response_model=JobOut, responses={**ERROR_RESPONSES, **_NOT_FOUND})
async def get_job(job_id: str, caller: AdminCaller, graph_jobs: GraphJobsDep) -> JobOut:
    return JobOut.model_validate(graph_jobs.jobs.get(job_id).to_json())


def _stats(state: StateDep) -> GraphStatsOut:
    snap = state.current()
    stats = snap.store.stats()
    return GraphStatsOut(
        store=snap.store.kind,
        **stats.to_json(),
        graph_version=snap.version,
        generator=snap.generator.backend if snap.generator is not None else None,
    )


@router.get("/graphs/stats", response_model=GraphStatsOut, responses=ERROR_RESPONSES)
async def graph_stats(caller: AdminCaller, state: StateDep) -> GraphStatsOut:
    return await run_in_threadpool(_stats, state)


@router.delete("/graphs", response_model=GraphStatsOut, responses=ERROR_RESPONSES)
async def clear_graph(caller: AdminCaller, state: StateDep, graph_jobs: GraphJobsDep) -> GraphStatsOut:
    """Delete every triple of the serving graph (after any running load)."""
    await run_in_threadpool(graph_jobs.clear)
    return await run_in_threadpool(_stats, state)

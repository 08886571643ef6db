"""Distillation jobs (scope ``admin``): start or resume, follow, cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from starlette.concurrency import run_in_threadpool

from service.deps import AdminCaller
from service.distill_jobs import DistillJobs
from service.schemas import ERROR_RESPONSES, DistillJobRequest, ErrorOut, JobOut

router = APIRouter(prefix="/v1/distill", tags=["distill"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "no such job"}}


def get_distill_jobs(request: Request) -> DistillJobs:
    jobs: DistillJobs = request.app.state.distill_jobs
    return jobs


DistillJobsDep = Annotated[DistillJobs, Depends(get_distill_jobs)]


@router.post("/jobs", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED, responses=ERROR_RESPONSES)
async def start_job(
    caller: AdminCaller, body: DistillJobRequest, jobs: DistillJobsDep, response: Response
) -> JobOut:
    """Start a job in a worker process; the same kind and params again resumes or returns it."""
    job, started = await run_in_threadpool(jobs.submit, body.kind, dict(body.params))
    if not started:
        response.status_code = status.HTTP_200_OK
    return JobOut.model_validate(job.to_json())


@router.get("/jobs/{job_id}", response_model=JobOut, responses={**ERROR_RESPONSES, **_NOT_FOUND})
async def get_job(job_id: str, caller: AdminCaller, jobs: DistillJobsDep) -> JobOut:
    return JobOut.model_validate(jobs.view(job_id).to_json())


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, responses={**ERROR_RESPONSES, **_NOT_FOUND})
async def cancel_job(job_id: str, caller: AdminCaller, jobs: DistillJobsDep) -> JobOut:
    return JobOut.model_validate(jobs.cancel(job_id).to_json())

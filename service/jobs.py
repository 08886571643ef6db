"""Background job records, persisted as one JSON file each under the data dir (atomic rename)."""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from kg.errors import NotFoundError

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "interrupted"})
_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


@dataclass
class Job:
    id: str
    kind: str
    state: JobState = "queued"
    params: dict[str, Any] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    attempts: int = 0
    pid: int | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def new_job_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


class JobStore:
    """Thread-safe job table mirrored to ``<dir>/<id>.json``."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        for file in sorted(self.dir.glob("*.json")):
            try:
                job = Job(**json.loads(file.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                continue  # a damaged record is skipped, not fatal
            self._jobs[job.id] = job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id) if _ID.match(job_id) else None
            if job is None:
                raise NotFoundError(f"no job {job_id!r}")
            return job

    def find(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created_at)

    def put(self, job: Job) -> Job:
        with self._lock:
            self._jobs[job.id] = job
            self._write(job)
        return job

    def update(self, job_id: str, **changes: Any) -> Job:
        with self._lock:
            job = self.get(job_id)
            for key, value in changes.items():
                setattr(job, key, value)
            job.updated_at = time.time()
            self._write(job)
            return job

    def _write(self, job: Job) -> None:
        target = self.dir / f"{job.id}.json"
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(job.to_json(), indent=1, default=str), encoding="utf-8")
        os.replace(tmp, target)

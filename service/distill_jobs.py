"""Distillation jobs (``kgr distill traces|verify|train``) in separate worker processes.

A job's id is a hash of its kind and parameters, so re-submitting the same job returns it, or, when it
failed, was cancelled or was interrupted, starts it again: the distill commands resume on their own
(trace files skip finished ids, training continues from its last checkpoint). Each job has a folder
``<data_dir>/distill/<id>/`` (working directory of the worker, ``log.txt``, ``exit_code``) and its state
is persisted in ``<data_dir>/jobs/distill/<id>.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from kg.errors import InputError
from service.jobs import Job, JobStore
from service.metrics import Metrics

log = logging.getLogger("kgr.jobs")
_PARAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
ParamValue = str | int | float | bool | list[str]


def job_id_for(kind: str, params: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps([kind, params], sort_keys=True).encode()).hexdigest()[:16]
    return f"distill-{kind}-{digest}"


def to_argv(kind: str, params: dict[str, ParamValue]) -> list[str]:
    """``{"max_steps": 10, "kb": ["a", "b"], "supervised": True}`` -> ``--max-steps 10 --kb a --kb b ...``."""
    argv = ["distill", kind]
    for name in sorted(params):
        if not _PARAM_NAME.match(name):
            raise InputError(f"parameter name {name!r} is not a distill option name")
        flag, value = "--" + name.replace("_", "-"), params[name]
        if isinstance(value, bool):
            if value:
                argv.append(flag)
        elif isinstance(value, list):
            for item in value:
                argv += [flag, str(item)]
        else:
            text = str(value)
            if text.startswith("-"):
                text = text if re.fullmatch(r"-[0-9.e]+", text) else f"./{text}"
            argv += [flag, text]
    return argv


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tail(file: Path, chars: int = 600) -> str:
    try:
        with open(file, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - chars))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    last = [line for line in re.split(r"[\r\n]+", text) if line.strip()]
    return last[-1][-300:] if last else ""


class DistillJobs:
    def __init__(self, data_dir: Path, metrics: Metrics) -> None:
        self.root = data_dir / "distill"
        self.jobs = JobStore(data_dir / "jobs" / "distill")
        self.metrics = metrics
        self._lock = threading.Lock()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        for job in self.jobs.all():  # jobs of a previous service run: still going, or cut short
            if not job.finished:
                if _alive(job.pid):
                    threading.Thread(target=self._watch_orphan, args=(job.id,), daemon=True).start()
                else:
                    self._finish(job.id, None)

    def folder(self, job_id: str) -> Path:
        return self.root / job_id

    def submit(self, kind: str, params: dict[str, ParamValue]) -> tuple[Job, bool]:
        """Start (or resume) a job; returns it and whether a process was started."""
        argv = to_argv(kind, params)
        job_id = job_id_for(kind, params)
        with self._lock:
            job = self.jobs.find(job_id)
            if job is not None and (job.state in ("queued", "running", "succeeded")):
                return self.view(job_id), False
            attempts = job.attempts if job else 0
            if job is None:
                job = self.jobs.put(Job(job_id, f"distill_{kind}", params=dict(params)))
            folder = self.folder(job_id)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "exit_code").unlink(missing_ok=True)
            logfile = open(folder / "log.txt", "ab")  # noqa: SIM115 - handed to the child process
            cmd = [sys.executable, "-m", "service.distill_worker", str(folder / "exit_code"), *argv]
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            try:
                proc = subprocess.Popen(
                    cmd, cwd=folder, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True, env=env
                )
            finally:
                logfile.close()
            self._procs[job_id] = proc
            self.jobs.update(
                job_id,
                state="running",
                attempts=attempts + 1,
                pid=proc.pid,
                error=None,
                result=None,
                progress={"started_at": time.time(), "argv": argv},
            )
        threading.Thread(target=self._watch, args=(job_id, proc), daemon=True).start()
        return self.view(job_id), True

    def _watch(self, job_id: str, proc: subprocess.Popen[bytes]) -> None:
        rc = proc.wait()
        with self._lock:
            self._procs.pop(job_id, None)
        self._finish(job_id, rc)

    def _watch_orphan(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        while _alive(job.pid):
            time.sleep(2)
        self._finish(job_id, None)

    def _finish(self, job_id: str, rc: int | None) -> None:
        job = self.jobs.get(job_id)
        if rc is None:  # not our child: the worker wrote its exit code, or it never finished
            try:
                rc = int((self.folder(job_id) / "exit_code").read_text().strip())
            except (OSError, ValueError):
                rc = None
        if job.state == "cancelled":
            state = "cancelled"
        elif rc == 0:
            state = "succeeded"
        elif rc is None:
            state = "interrupted"
        else:
            state = "failed"
        error = (
            None
            if state in ("succeeded", "cancelled")
            else f"exit code {rc}: {_tail(self.folder(job_id) / 'log.txt')}"
        )
        self.jobs.update(job_id, state=state, pid=None, error=error, result={"exit_code": rc})
        self.metrics.jobs.labels(job.kind, state).inc()

    def cancel(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job.finished:
            return self.view(job_id)
        self.jobs.update(job_id, state="cancelled")
        if job.pid and _alive(job.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(job.pid, signal.SIGTERM)  # the worker and anything it started
        return self.view(job_id)

    def view(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job.state == "running":
            job.progress = {**job.progress, "log_tail": _tail(self.folder(job_id) / "log.txt")}
        return job

    def close(self) -> None:
        """Worker processes keep running across a service restart; the next start picks them up."""

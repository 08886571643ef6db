"""Graph loads as background jobs, one at a time, never on the event loop.

Memory store: the load goes into a copy of the current graph, which is saved, indexed and then swapped in
as the new snapshot, so QA keeps reading the old one until the swap. Neo4j: the load writes through the
driver in batches; the decoding index over the new data is built off the request path, then swapped.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kg.errors import InputError, KgrError
from kg.factory import open_store
from kg.loaders import load_file
from kg.memory_store import MemoryStore
from kg.store import GraphStore
from kg.types import GraphStats, Triple
from kg.types import Path as KgPath
from service.jobs import Job, JobStore, new_job_id
from service.state import AppState

log = logging.getLogger("kgr.jobs")


class _CountingStore(GraphStore):
    """Forwards to ``inner`` and reports how many rows were written so far (job progress)."""

    def __init__(self, inner: GraphStore, on_rows: Callable[[int], None]) -> None:
        self.inner, self.on_rows, self.rows = inner, on_rows, 0
        self.kind = inner.kind

    def add_triples(self, triples: Iterable[Triple]) -> int:
        batch = list(triples)
        added = self.inner.add_triples(batch)
        self.rows += len(batch)
        self.on_rows(self.rows)
        return added

    def stats(self) -> GraphStats:
        return self.inner.stats()

    def iter_triples(self) -> Iterator[Triple]:
        return self.inner.iter_triples()

    def has_entity(self, name: str) -> bool:
        return self.inner.has_entity(name)

    def has_triple(self, head: str, relation: str, tail: str) -> bool:
        return self.inner.has_triple(head, relation, tail)

    def neighbors(self, entity: str, relation: str | None = None) -> list[tuple[str, str]]:
        return self.inner.neighbors(entity, relation)

    def paths_from(self, sources: Sequence[str], max_hops: int, limit: int) -> list[KgPath]:
        return self.inner.paths_from(sources, max_hops, limit)

    def shortest_paths(
        self, sources: Sequence[str], targets: Sequence[str], max_hops: int, limit: int
    ) -> list[KgPath]:
        return self.inner.shortest_paths(sources, targets, max_hops, limit)

    def clear(self) -> None:
        self.inner.clear()


def copy_memory_store(store: MemoryStore) -> MemoryStore:
    fresh = MemoryStore(None)
    fresh.add_triples(store.iter_triples())
    fresh.file = store.file
    return fresh


class GraphJobs:
    def __init__(self, state: AppState, jobs: JobStore) -> None:
        self.state, self.jobs = state, jobs
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kgr-graph-job")
        for job in jobs.all():  # a load cut short by a restart is not running any more
            if not job.finished:
                jobs.update(job.id, state="interrupted", error="the service restarted during this job")

    def check_path(self, path: Path) -> Path:
        roots = self.state.settings.graph_import_roots
        resolved = path.resolve()
        if roots and not any(resolved.is_relative_to(r.resolve()) for r in roots):
            raise InputError(f"{path} is outside the allowed import directories")
        if not resolved.is_file():
            raise InputError(f"{path} is not a readable file on the server")
        return resolved

    def submit_load(
        self, path: Path, fmt: str, skip_bad: bool, target: str | None, delete_after: bool = False
    ) -> Job:
        params = {"path": str(path), "format": fmt, "skip_bad": skip_bad, "store": target or "serving"}
        job = self.jobs.put(Job(new_job_id("load"), "graph_load", params=params))
        self._pool.submit(self._run_load, job.id, path, fmt, skip_bad, target, delete_after)
        return job

    def _run_load(
        self, job_id: str, path: Path, fmt: str, skip_bad: bool, target: str | None, delete_after: bool
    ) -> None:
        self.jobs.update(
            job_id, state="running", attempts=1, progress={"phase": "validating", "rows_written": 0}
        )

        def progress(rows: int) -> None:
            self.jobs.update(job_id, progress={"phase": "writing", "rows_written": rows})

        try:
            serving = self.state.current().store
            if target is not None and target != serving.kind:
                result = self._load_other(target, path, fmt, skip_bad, progress)
            else:
                result = self._load_serving(serving, path, fmt, skip_bad, progress, job_id)
            self.jobs.update(job_id, state="succeeded", result=result, progress={"phase": "done"})
            self.state.metrics.jobs.labels("graph_load", "succeeded").inc()
        except Exception as exc:
            message = str(exc) if isinstance(exc, KgrError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, KgrError):
                log.exception("graph load %s failed", job_id)
            self.jobs.update(job_id, state="failed", error=message)
            self.state.metrics.jobs.labels("graph_load", "failed").inc()
        finally:
            if delete_after:
                shutil.rmtree(path.parent, ignore_errors=True)

    def _load_serving(
        self,
        serving: GraphStore,
        path: Path,
        fmt: str,
        skip_bad: bool,
        progress: Callable[[int], None],
        job_id: str,
    ) -> dict[str, object]:
        if isinstance(serving, MemoryStore):
            fresh = copy_memory_store(serving)
            report = load_file(_CountingStore(fresh, progress), path, fmt, skip_bad=skip_bad)
            if fresh.file is not None:
                fresh.save()
            store: GraphStore = fresh
        else:
            report = load_file(_CountingStore(serving, progress), path, fmt, skip_bad=skip_bad)
            store = serving
        self.jobs.update(job_id, progress={"phase": "indexing", "rows_written": report.rows})
        snap = self.state.swap(store)
        return {**report.to_json(), **store.stats().to_json(), "graph_version": snap.version}

    def _load_other(
        self, target: str, path: Path, fmt: str, skip_bad: bool, progress: Callable[[int], None]
    ) -> dict[str, object]:
        with open_store(self.state.settings, target) as other:
            report = load_file(_CountingStore(other, progress), path, fmt, skip_bad=skip_bad)
            if isinstance(other, MemoryStore):
                other.save()
            return {**report.to_json(), **other.stats().to_json(), "store": target}

    def clear(self) -> GraphStats:
        """Empty the serving graph (waits for running loads: same single worker)."""
        return self._pool.submit(self._clear).result()

    def _clear(self) -> GraphStats:
        serving = self.state.current().store
        if isinstance(serving, MemoryStore):
            empty = MemoryStore(None)
            empty.file = serving.file
            if empty.file is not None:
                empty.save()
            store: GraphStore = empty
        else:
            serving.clear()
            store = serving
        self.state.swap(store)
        return store.stats()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

"""What one running app holds: the current graph snapshot (store + generator + linker), swapped atomically.

Readers take ``state.snapshot`` once per request and use only that object, so an admin load that builds
the next snapshot off the request path never changes the graph under a running request.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from decoding.types import PathGenerator
from kg.errors import ModelError
from kg.memory_store import MemoryStore
from kg.settings import Settings
from kg.store import GraphStore
from service.batching import MicroBatcher
from service.errors import NotReadyError
from service.linking import EntityLinker
from service.metrics import Metrics
from service.reasoner import Reasoner
from service.security import KeyRing, RateLimiter

log = logging.getLogger("kgr.service")

GeneratorFactory = Callable[[GraphStore], PathGenerator]


def entity_names(store: GraphStore) -> list[str]:
    if isinstance(store, MemoryStore):
        return list(store.entity_ids)
    names: dict[str, None] = {}
    for t in store.iter_triples():
        names[t.head] = None
        names[t.tail] = None
    return list(names)


def _with_new_index(base: Any, store: GraphStore) -> PathGenerator:
    """The loaded student with a fresh index over ``store``: weights (or the vLLM engine) load once.

    Both backends read ``index`` and ``store`` per request, and the micro-batcher's single worker thread
    is the only caller of ``generate``, so clones never decode at the same time."""
    from decoding.index import KGIndex

    clone = copy.copy(base)
    clone.store = store
    clone.index = KGIndex.build(store, base.codec)
    return clone


def student_factory(
    student_dir: Path, backend: str, batch_size: int = 16, min_beams: int = 1
) -> GeneratorFactory:
    """Build generators for the student in ``student_dir``, one per graph snapshot (index built inside)."""
    loaded: list[Any] = []

    def build(store: GraphStore) -> PathGenerator:
        engine = "model" if backend == "hf" else "llm"
        if loaded and getattr(loaded[0], engine, None) is not None:
            return _with_new_index(loaded[0], store)
        try:
            if backend == "vllm":
                from decoding.vllm_backend import VllmPathGenerator

                loaded[:] = [VllmPathGenerator(str(student_dir), store, min_beams=min_beams)]
                return loaded[0]
            from decoding.hf_backend import HFPathGenerator

            generator = HFPathGenerator(
                str(student_dir),
                store,
                index=None,
                strategy="lazy",
                device="cpu",
                batch_size=batch_size,
                min_beams=min_beams,
            )
            loaded[:] = [generator]
            return generator
        except ImportError as exc:
            raise ModelError(f"the {backend} decoding backend is not available: {exc}") from exc

    return build


def _shares_engine(a: PathGenerator, b: PathGenerator | None) -> bool:
    """Whether two generators are clones over one loaded model (closing one would break the other)."""
    if b is None:
        return False
    if a is b:
        return True
    return any(
        getattr(a, name, None) is not None and getattr(a, name, None) is getattr(b, name, None)
        for name in ("model", "llm")
    )


@dataclass(frozen=True)
class Snapshot:
    version: int
    store: GraphStore
    linker: EntityLinker
    generator: PathGenerator | None
    built_at: float = field(default_factory=time.time)
    note: str = ""  # why there is no generator, when there is none


def build_snapshot(version: int, store: GraphStore, factory: GeneratorFactory | None) -> Snapshot:
    linker = EntityLinker(entity_names(store))
    if factory is None:
        return Snapshot(version, store, linker, None, note="no student model configured")
    if len(linker) == 0:
        return Snapshot(version, store, linker, None, note="the graph is empty")
    return Snapshot(version, store, linker, factory(store))


@dataclass
class AppState:
    settings: Settings
    metrics: Metrics
    keyring: KeyRing
    limiter: RateLimiter
    batcher: MicroBatcher
    reasoner: Reasoner | None
    factory: GeneratorFactory | None
    owns_store: bool
    snapshot: Snapshot | None = None
    startup_error: str | None = None
    _swap_lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self) -> Snapshot:
        snap = self.snapshot
        if snap is None:
            raise NotReadyError(self.startup_error or "the service is still starting")
        return snap

    def swap(self, store: GraphStore, reuse_generator: PathGenerator | None = None) -> Snapshot:
        """Build a snapshot over ``store`` (slow: indexes), then publish it in one assignment."""
        with self._swap_lock:
            version = (self.snapshot.version + 1) if self.snapshot else 1
            if reuse_generator is not None:
                snap = Snapshot(version, store, EntityLinker(entity_names(store)), reuse_generator)
            else:
                snap = build_snapshot(version, store, self.factory)
            old, self.snapshot = self.snapshot, snap
        if old is not None:
            self._retire(old, snap)
        return snap

    def _retire(self, old: Snapshot, new: Snapshot) -> None:
        """Close the old generator/store once requests that started on them have had time to finish."""

        def close() -> None:
            if old.generator is not None and not _shares_engine(old.generator, new.generator):
                old.generator.close()
            if old.store is not new.store and self.owns_store:
                old.store.close()

        timer = threading.Timer(self.settings.request_timeout_s + 1, close)
        timer.daemon = True
        timer.start()

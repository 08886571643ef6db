"""The transformers backend: KG-constrained beam search with a stateful ``LogitsProcessor``.

Diversity: transformers 5 has no offline group/diverse beam search, so K paths come from plain beam
search with ``num_beams = max(k, min_beams)`` and every beam returned; under the constraint two beams
are always two different paths (a sequence spells exactly one path), and unconstrained outputs are
deduplicated by path. Scores are summed log-probabilities of the student (``length_penalty=0``):
transformers applies the processor to ``log_softmax(logits)``, so masked tokens do not renormalise.
With ``entity_scoring="relative"`` (default) entity-name tokens count relative to the best entity choice
(``decoding.pathformat.scores_relative``, ``relative_shift``), so beams rank by relation chain and stop
decisions; ``"raw"`` keeps plain sums.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessor, LogitsProcessorList

from decoding.constraint import ConstraintState, Strategy, initial_state
from decoding.index import KGIndex
from decoding.pathformat import EntityScoring, PathCodec, relative_shift, scores_relative
from decoding.results import collect_paths, make_result
from decoding.types import GenerationRequest, GenerationResult
from kg.errors import ConstraintError, ModelError
from kg.store import GraphStore


class KGConstraintLogitsProcessor(LogitsProcessor):
    """Masks every token the KG constraint forbids, per row, for batched greedy or beam search.

    Rows may be reordered between steps (beam search), so a row's state is looked up by its request
    and generated-token history: the state of the history minus its last token, advanced by that last
    token. Only the previous step's states are kept, so each step costs one ``advance`` per row.
    """

    def __init__(
        self,
        initial: Sequence[ConstraintState | None],
        rows_per_request: int,
        prompt_len: int,
        eos_id: int,
        entity_scoring: EntityScoring = "raw",
        markers: tuple[int, int, int] | None = None,
    ) -> None:
        if entity_scoring == "relative" and markers is None:
            raise ValueError("relative entity scoring needs the (start, sep, end) marker ids")
        self.entity_scoring = entity_scoring
        self.markers = markers
        self.initial = list(initial)
        self.rows_per_request = rows_per_request
        self.prompt_len = prompt_len
        self.eos = np.array([eos_id], dtype=np.int64)
        self._previous: dict[tuple[int, tuple[int, ...]], ConstraintState | None] = {}
        self.seconds = 0.0  # time spent in this processor (the constraint's share of decoding)

    def state_for(self, request: int, history: tuple[int, ...]) -> ConstraintState | None:
        if not history:
            return self.initial[request]
        parent = self._previous.get((request, history[:-1]))
        if parent is None:
            return None
        if parent.terminated:
            return parent  # finished rows are padded by generate(); keep them finished
        return parent.advance(history[-1])

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        t0 = time.perf_counter()
        histories = input_ids[:, self.prompt_len :].tolist()
        current: dict[tuple[int, tuple[int, ...]], ConstraintState | None] = {}
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        for row, hist in enumerate(histories):
            key = (row // self.rows_per_request, tuple(hist))
            state = current[key] if key in current else self.state_for(*key)
            current[key] = state
            # no state: a request without a valid topic, or a beam HF kept at -inf: let it end at once
            allowed = state.allowed() if state is not None else self.eos

            rows.append(np.full(len(allowed), row, dtype=np.int64))
            cols.append(allowed)
        self._previous = current
        mask = torch.full_like(scores, float("-inf"))
        if rows:
            mask[torch.from_numpy(np.concatenate(rows)), torch.from_numpy(np.concatenate(cols))] = 0.0
        out = scores + mask
        if self.entity_scoring == "relative":
            out = self._relative_entities(out, scores, histories)
        self.seconds += time.perf_counter() - t0
        return out  # type: ignore[return-value]

    def _relative_entities(
        self, out: torch.Tensor, raw: torch.Tensor, histories: list[list[int]]
    ) -> torch.Tensor:
        """Shift entity-name (and answer) rows by ``relative_shift``: the best entity choice scores 0."""
        assert self.markers is not None
        rows = [r for r, hist in enumerate(histories) if scores_relative(hist, *self.markers)]
        if rows:
            index = torch.tensor(rows, device=out.device)
            _, sep, end = self.markers
            shift = relative_shift(out[index], raw[index], sep, end)
            out[index] = out[index] - shift[:, None]
        return out


class HFPathGenerator:
    """A student model run with transformers; implements ``decoding.types.PathGenerator``."""

    backend = "hf"

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        store: GraphStore,
        index: KGIndex | None = None,
        strategy: Strategy = "lazy",
        device: str = "cpu",
        batch_size: int = 8,
        min_beams: int = 1,
        max_new_tokens: int | None = None,
        entity_scoring: EntityScoring = "relative",
    ) -> None:
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
            model: Any = AutoModelForCausalLM.from_pretrained(str(model_dir))
            self.model = model.to(device).eval()
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the student from {model_dir}: {exc}") from exc
        self.tokenizer.padding_side = "left"
        self.codec = PathCodec(self.tokenizer)
        self.store = store
        self.index = index if index is not None else KGIndex.build(store, self.codec)
        self.strategy: Strategy = strategy
        self.device = device
        self.batch_size = batch_size
        self.min_beams = min_beams
        self.max_new_tokens = max_new_tokens
        self.entity_scoring: EntityScoring = entity_scoring

    def close(self) -> None:
        self.model = None

    # ---- public ----------------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        results: list[GenerationResult | None] = [None] * len(requests)
        groups: dict[tuple[bool, int], list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault((req.constrained, max(req.k, self.min_beams)), []).append(i)
        for (constrained, beams), members in groups.items():
            for start in range(0, len(members), self.batch_size):
                chunk = members[start : start + self.batch_size]
                for i, res in zip(
                    chunk, self._run([requests[i] for i in chunk], constrained, beams), strict=True
                ):
                    results[i] = res
        return [r for r in results if r is not None]

    # ---- internals -------------------------------------------------------------------------------
    def _max_new_tokens(self, max_hops: int) -> int:
        if self.max_new_tokens is not None:
            return self.max_new_tokens
        return self.index.output_bound(max_hops)

    def _prompts(self, requests: Sequence[GenerationRequest]) -> dict[str, torch.Tensor]:
        prompts = [self.codec.prompt_ids(r.question, list(r.topic_entities)) for r in requests]
        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], dtype=torch.long)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long)
        return {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}

    def _run(
        self, requests: Sequence[GenerationRequest], constrained: bool, beams: int
    ) -> list[GenerationResult]:
        t0 = time.perf_counter()
        inputs = self._prompts(requests)
        prompt_len = int(inputs["input_ids"].shape[1])
        processors = LogitsProcessorList()
        states: list[ConstraintState | None] = []
        if constrained:
            for r in requests:
                try:
                    states.append(
                        initial_state(self.index, list(r.topic_entities), r.max_hops, self.strategy)
                    )
                except ConstraintError:
                    states.append(None)  # nothing to generate for this question: empty result
            markers = (self.codec.start_id, self.codec.sep_id, self.codec.end_id)
            processors.append(
                KGConstraintLogitsProcessor(
                    states, beams, prompt_len, self.codec.eos_id, self.entity_scoring, markers
                )
            )
        t1 = time.perf_counter()
        kwargs: dict[str, Any] = {
            "max_new_tokens": self._max_new_tokens(max(r.max_hops for r in requests)),
            "num_beams": beams,
            "num_return_sequences": beams,
            "do_sample": False,
            "logits_processor": processors,
            "return_dict_in_generate": True,
            "output_scores": True,
            "output_logits": beams == 1,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.codec.eos_id,
        }
        if beams > 1:
            # early_stopping=False: with length_penalty 0 transformers stops once no live beam can beat
            # the k-th finished one (scores only fall), the same rule as decoding.vllm_beam. True would
            # stop at the first k finished beams: short paths finish first and longer, better ones
            # were cut off (a 2-hop question answered by a 1-hop path).
            kwargs.update(length_penalty=0.0, early_stopping=False)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **kwargs)
        t2 = time.perf_counter()
        generated = out.sequences[:, prompt_len:]
        scores = self._sequence_scores(out, generated, beams)
        results = []
        for i, req in enumerate(requests):
            rows = range(i * beams, (i + 1) * beams)
            outputs = []
            n_tokens = 0
            for row in rows:
                ids = self._trim(generated[row].tolist())
                n_tokens += len(ids)
                if (constrained and states[i] is None) or scores[row] == float("-inf"):
                    continue
                outputs.append((ids, scores[row]))
            paths = collect_paths(self.codec, self.store, req, outputs)
            timings = {"constraint_setup": (t1 - t0) * 1000, "generate": (t2 - t1) * 1000}
            if processors:
                timings["constraint_mask"] = processors[0].seconds * 1000
            timings["total"] = (time.perf_counter() - t0) * 1000
            results.append(make_result(req, paths, n_tokens, timings))
        return results

    def _trim(self, ids: list[int]) -> list[int]:
        """Generated ids up to and including the first EOS (padding after it dropped)."""
        eos = self.codec.eos_id
        return ids[: ids.index(eos) + 1] if eos in ids else ids

    def _sequence_scores(self, out: Any, generated: torch.Tensor, beams: int) -> list[float]:
        if beams > 1:
            return [float(s) for s in out.sequences_scores.tolist()]
        # greedy: sum of raw log-probs of the chosen tokens up to EOS
        logprobs = torch.stack([torch.log_softmax(x.float(), dim=-1) for x in out.logits], dim=1)
        chosen = logprobs.gather(2, generated[:, : logprobs.shape[1], None]).squeeze(2)
        eos = self.codec.eos_id
        totals = []
        for row in range(generated.shape[0]):
            ids = generated[row].tolist()
            n = ids.index(eos) + 1 if eos in ids else len(ids)
            totals.append(float(chosen[row, :n].sum()))
        return totals

"""KG-constrained beam search driven step by step over a vLLM engine.

vLLM's own beam search bypasses logits processors, so this drives it: each step sends every live beam
as a one-token request (prompt + beam history; vLLM's prefix cache keeps the re-prefill cheap) whose
``extra_args`` carry the beam's constraint state. The processor log-softmaxes and masks the row, and
the engine runs with ``logprobs_mode="processed_logits"``, so the top ``2 * width`` returned values are
the raw log-probs of the best ALLOWED next tokens. Scores are summed as in the transformers backend
(``length_penalty=0``), with the same ``entity_scoring`` rule (``decoding.pathformat.scores_relative``,
``relative_shift``). ``width`` beams are searched and the best ``beams`` finished ones returned; a wider
search finds multi-hop paths whose first steps the model ranks below dead ends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from decoding.constraint import ConstraintState
from decoding.pathformat import EntityScoring, relative_shift_of_row, scores_relative


def constrained_beam_search(
    llm: Any,
    prompts: Sequence[list[int]],
    starts: Sequence[ConstraintState],
    beams: int,
    max_steps: int,
    entity_scoring: EntityScoring = "relative",
    markers: tuple[int, int, int] = (-1, -1, -1),
    width: int | None = None,
) -> list[list[tuple[list[int], float]]]:
    """Per prompt, the finished ``(generated ids, score)`` beams (at most ``beams``, best first) of a
    search ``width`` beams wide (default ``beams``)."""
    from vllm import SamplingParams

    from decoding.vllm_backend import EXTRA_ARG, register_constraint, release_constraint, stop_mass_of

    width = max(beams, width or beams)
    relative = entity_scoring == "relative"
    _, sep_id, end_id = markers

    live: dict[int, list[tuple[list[int], ConstraintState, float]]] = {
        i: [([], start, 0.0)] for i, start in enumerate(starts)
    }
    finished: list[list[tuple[list[int], float]]] = [[] for _ in prompts]
    for _ in range(max_steps):
        batch = [(i, hist, state, score) for i, group in live.items() for hist, state, score in group]
        if not batch:
            break
        keys = [
            register_constraint(state, (sep_id, end_id) if relative else None) for _, _, state, _ in batch
        ]
        try:
            params = [
                SamplingParams(
                    max_tokens=1,
                    temperature=0.0,
                    logprobs=2 * width,
                    detokenize=False,
                    skip_special_tokens=False,
                    extra_args={EXTRA_ARG: key},
                )
                for key in keys
            ]
            requests = [{"prompt_token_ids": [*prompts[i], *hist]} for i, hist, _, _ in batch]
            outputs = llm.generate(requests, params, use_tqdm=False)
            masses = [stop_mass_of(key) for key in keys]
        finally:
            for key in keys:
                release_constraint(key)
        candidates: dict[int, list[tuple[float, list[int], ConstraintState, int]]] = {}
        for (i, hist, state, score), out, mass in zip(batch, outputs, masses, strict=True):
            top = out.outputs[0].logprobs[0] if out.outputs[0].logprobs else {}
            logprobs = {int(token): lp.logprob for token, lp in top.items()}
            shift = 0.0
            if relative and logprobs and scores_relative(hist, *markers):
                shift = relative_shift_of_row(logprobs, mass, sep_id, end_id)
            for token, logprob in logprobs.items():
                if math.isfinite(logprob):
                    candidates.setdefault(i, []).append(
                        (score + logprob - shift, [*hist, token], state, token)
                    )
        live = {}
        for i, ranked in candidates.items():
            ranked.sort(key=lambda c: -c[0])
            keep: list[tuple[list[int], ConstraintState, float]] = []
            for score, hist, state, token in ranked:
                nxt = state.advance(token)
                if nxt is None:  # cannot happen: the processor allowed it
                    continue
                if nxt.terminated:
                    finished[i].append((hist, score))
                elif len(keep) < width:
                    keep.append((hist, nxt, score))
            best = sorted(finished[i], key=lambda f: -f[1])[:beams]
            finished[i] = best
            # scores only fall as beams grow: stop once no live beam can beat the k-th finished one
            if keep and not (len(best) >= beams and keep[0][2] <= best[-1][1]):
                live[i] = keep
    return finished

"""The logits processors keep the right state per row when rows are reordered (beams) or moved (vLLM)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from decoding.constraint import initial_state
from decoding.hf_backend import KGConstraintLogitsProcessor
from decoding.index import KGIndex
from decoding.pathformat import scores_relative
from kg.memory_store import MemoryStore


def test_hf_processor_follows_reordered_rows(
    pq_store: MemoryStore, pq_index: KGIndex, pq_questions: list[dict[str, object]]
) -> None:
    codec = pq_index.codec
    for q in pq_questions:  # a topic with two different first relations, so rows' allowed sets differ
        topic = str(q["topic_entity"])
        paths = pq_store.paths_from([topic], 2, 1000)
        others = [p for p in paths if p.relations[0] != paths[0].relations[0]]
        if others:
            break
    a, b = codec.encode_output(paths[0]), codec.encode_output(others[0])
    n = min(len(a), len(b)) - 1
    state = initial_state(pq_index, [topic], 2)
    prompt = [7, 7]
    proc = KGConstraintLogitsProcessor(
        [state], rows_per_request=2, prompt_len=len(prompt), eos_id=codec.eos_id
    )
    vocab = codec.vocab_size
    for step in range(n + 1):
        rows = [a[:step], b[:step]]
        if step % 2:  # beam search reorders rows between steps
            rows.reverse()
        ids = torch.tensor([prompt + r for r in rows])
        scores = proc(ids, torch.zeros(2, vocab))  # type: ignore[arg-type]
        for i, hist in enumerate(rows):
            want = state
            for t in hist:
                nxt = want.advance(t)
                assert nxt is not None
                want = nxt
            allowed = torch.isfinite(scores[i]).nonzero().flatten().tolist()
            assert allowed == want.allowed().tolist()


def test_relative_entity_scoring_frees_the_best_entity_choice_only(
    pq_store: MemoryStore, pq_index: KGIndex, pq_questions: list[dict[str, object]]
) -> None:
    """Inside names the best allowed token scores 0; where a name may end, ending it is worth the model's
    whole mass on ``->`` and ``</PATH>`` (allowed or not); relation tokens keep their log-probs."""
    codec = pq_index.codec
    topic = str(pq_questions[0]["topic_entity"])
    path = pq_store.paths_from([topic], 2, 10)[0]
    out = codec.encode_output(path)
    markers = (codec.start_id, codec.sep_id, codec.end_id)
    stops = [codec.sep_id, codec.end_id]
    state = initial_state(pq_index, [topic], path.hops)  # the last entity may only end: a forced </PATH>
    proc = KGConstraintLogitsProcessor([state], 1, 0, codec.eos_id, "relative", markers)
    generator = torch.Generator().manual_seed(0)
    kinds = set()
    for step in range(len(out)):
        hist = out[:step]
        raw = torch.log_softmax(torch.randn(1, codec.vocab_size, generator=generator), dim=-1)
        got = proc(torch.tensor([hist], dtype=torch.long), raw.clone())  # type: ignore[arg-type]
        allowed = torch.isfinite(got[0])
        in_entity = scores_relative(hist, *markers)
        may_end = bool(allowed[stops].any())
        kinds.add((in_entity, may_end))
        if in_entity and may_end:
            names = allowed.clone()
            names[stops] = False
            best_name = raw[0][names].max() if names.any() else torch.tensor(float("-inf"))
            shift = torch.maximum(best_name, torch.logsumexp(raw[0][stops], dim=0))
            assert torch.allclose(got[0][allowed], raw[0][allowed] - shift)
            if not allowed[codec.sep_id]:  # the hop limit: the forced stop pays for the forbidden ->
                assert got[0][codec.end_id] < 0
        elif in_entity:
            assert got[0][allowed].max().item() == pytest.approx(0.0)
            assert torch.allclose(got[0][allowed], raw[0][allowed] - raw[0][allowed].max())
        else:
            assert torch.equal(got[0][allowed], raw[0][allowed])
    assert {(True, True), (True, False), (False, False)} <= kinds


def test_scores_relative_positions() -> None:
    start, sep, end = 1, 2, 3
    assert not scores_relative([], start, sep, end)  # before <PATH>
    assert scores_relative([start], start, sep, end)  # topic entity
    assert scores_relative([start, 9, 9], start, sep, end)
    assert not scores_relative([start, 9, sep], start, sep, end)  # relation
    assert scores_relative([start, 9, sep, 8, sep], start, sep, end)  # next entity
    assert scores_relative([start, 9, sep, 8, sep, 7, end], start, sep, end)  # forced answer


@pytest.mark.vllm
def test_vllm_processor_tracks_added_moved_removed(
    pq_index: KGIndex, pq_questions: list[dict[str, object]]
) -> None:
    from vllm import SamplingParams
    from vllm.v1.sample.logits_processor import BatchUpdate, MoveDirectionality

    from decoding.vllm_backend import (
        EXTRA_ARG,
        KGConstraintVllmProcessor,
        register_constraint,
        release_constraint,
    )

    codec = pq_index.codec
    key = register_constraint(initial_state(pq_index, [str(pq_questions[0]["topic_entity"])], 2))
    try:
        proc = KGConstraintVllmProcessor(None, torch.device("cpu"), False)
        constrained = SamplingParams(extra_args={EXTRA_ARG: key})
        out0: list[int] = []
        out1: list[int] = []
        proc.update_state(
            BatchUpdate(2, [], [(0, constrained, [1], out0), (1, SamplingParams(), [1], out1)], [])
        )
        logits = proc.apply(torch.zeros(2, codec.vocab_size))
        assert torch.isfinite(logits[0]).nonzero().flatten().tolist() == [codec.start_id]
        assert torch.isfinite(logits[1]).all()  # an unconstrained request is untouched
        out0.append(codec.start_id)  # vLLM appends sampled tokens to the referenced list
        proc.update_state(BatchUpdate(2, [], [], [(0, 1, MoveDirectionality.SWAP)]))
        logits = proc.apply(torch.zeros(2, codec.vocab_size))
        assert torch.isfinite(logits[0]).all()
        allowed = torch.isfinite(logits[1]).nonzero().flatten().numpy()
        assert len(allowed) > 0 and codec.start_id not in allowed and not np.isin(codec.eos_id, allowed)
        proc.update_state(BatchUpdate(1, [1], [], []))
        assert torch.isfinite(proc.apply(torch.zeros(1, codec.vocab_size))).all()
    finally:
        release_constraint(key)

"""Both backends on the same tiny student: constrained outputs are KG paths; greedy outputs agree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from decoding.hf_backend import HFPathGenerator
from decoding.index import KGIndex
from decoding.pathformat import COMPACT_PROMPT
from decoding.types import GenerationRequest, GenerationResult
from kg.memory_store import MemoryStore


@pytest.fixture(scope="module")
def hf(student_dir: Path, pq_store: MemoryStore, pq_index: KGIndex) -> HFPathGenerator:
    return HFPathGenerator(student_dir, pq_store, index=pq_index)


def _requests(
    questions: list[dict[str, object]], k: int, hops: int = 2, constrained: bool = True
) -> list[GenerationRequest]:
    return [
        GenerationRequest(
            str(q["question"]), [str(q["topic_entity"])], k=k, max_hops=hops, constrained=constrained
        )
        for q in questions
    ]


def _check(results: list[GenerationResult], k: int) -> None:
    for res in results:
        assert 1 <= len(res.paths) <= k
        assert len({p.path for p in res.paths}) == len(res.paths)  # distinct
        assert [p.score for p in res.paths] == sorted((p.score for p in res.paths), reverse=True)
        for p in res.paths:
            assert p.verified and p.path.start in res.request.topic_entities
            assert p.answer == p.path.end and p.path.hops <= res.request.max_hops
        assert abs(sum(h.score for h in res.answers) - 1.0) < 1e-6
        assert {h.answer for h in res.answers} == {p.answer for p in res.paths}


def test_beam_search_batch_of_two_topics(hf: HFPathGenerator, pq_questions: list[dict[str, object]]) -> None:
    two = [
        pq_questions[0],
        next(q for q in pq_questions if q["topic_entity"] != pq_questions[0]["topic_entity"]),
    ]
    results = hf.generate(_requests(two, k=4))
    _check(results, 4)
    assert results[0].paths[0].path.start != results[1].paths[0].path.start
    # the same request alone gives the same beams (batching and left padding do not change the constraint)
    alone = hf.generate(_requests(two[1:], k=4))[0]
    assert [p.path for p in alone.paths] == [p.path for p in results[1].paths]


def test_strategies_give_the_same_beams(
    student_dir: Path,
    hf: HFPathGenerator,
    pq_store: MemoryStore,
    pq_index: KGIndex,
    pq_questions: list[dict[str, object]],
) -> None:
    mat = HFPathGenerator(student_dir, pq_store, index=pq_index, strategy="materialized")
    mat.model = hf.model
    reqs = _requests(pq_questions[:3], k=3, hops=3)
    assert [[p.path for p in r.paths] for r in hf.generate(reqs)] == [
        [p.path for p in r.paths] for r in mat.generate(reqs)
    ]


def test_greedy_and_unknown_topic(hf: HFPathGenerator, pq_questions: list[dict[str, object]]) -> None:
    reqs = [*_requests(pq_questions[:2], k=1), GenerationRequest("who?", ["not in the graph"], k=1)]
    results = hf.generate(reqs)
    _check(results[:2], 1)
    assert results[2].paths == [] and results[2].answers == []


def test_unconstrained_outputs_are_flagged(
    hf: HFPathGenerator, pq_questions: list[dict[str, object]]
) -> None:
    results = hf.generate(_requests(pq_questions[:2], k=2, constrained=False))
    for res in results:
        assert res.generated_tokens > 0
        for p in res.paths:  # a random student rarely writes a well-formed path; any it writes is checked
            assert p.verified == hf.store.has_path(p.path)


@pytest.fixture(scope="session")
def vllm_gen(student_dir: Path, pq_store: MemoryStore, pq_index: KGIndex) -> Iterator[object]:
    from decoding.vllm_backend import VllmPathGenerator

    gen = VllmPathGenerator(student_dir, pq_store, index=pq_index)
    yield gen
    gen.close()


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_greedy_matches_transformers(
    vllm_gen: object, hf: HFPathGenerator, pq_questions: list[dict[str, object]]
) -> None:
    # both read the student's recorded prompt (vLLM's tokenizer is its own copy)
    assert vllm_gen.codec.prompt_template == hf.codec.prompt_template == COMPACT_PROMPT  # type: ignore[attr-defined]
    reqs = _requests(pq_questions[:4], k=1, hops=2)
    got = vllm_gen.generate(reqs)  # type: ignore[attr-defined]
    want = hf.generate(reqs)
    _check(got, 1)
    for a, b in zip(got, want, strict=True):
        assert [p.path for p in a.paths] == [p.path for p in b.paths]
        assert a.paths[0].score == pytest.approx(b.paths[0].score, abs=1e-2)


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_beam_search_matches_transformers(
    vllm_gen: object, hf: HFPathGenerator, pq_questions: list[dict[str, object]]
) -> None:
    reqs = [*_requests(pq_questions[:3], k=3, hops=2), GenerationRequest("who?", ["not in the graph"], k=3)]
    results = vllm_gen.generate(reqs)  # type: ignore[attr-defined]
    _check(results[:3], 3)
    assert results[3].paths == []
    want = hf.generate(reqs[:3])
    for a, b in zip(results, want, strict=False):
        assert [p.path for p in a.paths] == [p.path for p in b.paths]
        assert [p.score for p in a.paths] == pytest.approx([p.score for p in b.paths], abs=1e-2)


@pytest.mark.vllm
@pytest.mark.slow
def test_wider_beam_search_agrees_across_backends(
    vllm_gen: object, hf: HFPathGenerator, pq_questions: list[dict[str, object]]
) -> None:
    """``min_beams`` widens the search on both backends; each returns the top k of the same beams."""
    reqs = _requests(pq_questions[3:6], k=2, hops=2)
    vllm_gen.min_beams = hf.min_beams = 6  # type: ignore[attr-defined]
    try:
        got = vllm_gen.generate(reqs)  # type: ignore[attr-defined]
        want = hf.generate(reqs)
    finally:
        vllm_gen.min_beams = hf.min_beams = 1  # type: ignore[attr-defined]
    _check(got, 2)
    for a, b in zip(got, want, strict=True):
        assert [p.path for p in a.paths] == [p.path for p in b.paths]
        assert [p.score for p in a.paths] == pytest.approx([p.score for p in b.paths], abs=1e-2)


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_sampled_k_paths_are_verified(vllm_gen: object, pq_questions: list[dict[str, object]]) -> None:
    vllm_gen.k_paths = "sample"  # type: ignore[attr-defined]
    try:
        results = vllm_gen.generate(_requests(pq_questions[:2], k=3, hops=2))  # type: ignore[attr-defined]
    finally:
        vllm_gen.k_paths = "beam"  # type: ignore[attr-defined]
    _check(results, 3)


def _one_path_store() -> MemoryStore:
    from kg.types import Triple

    store = MemoryStore()
    store.add_triples([Triple("lonely topic", "knows", "only friend")])
    return store


def test_more_beams_than_paths(student_dir: Path) -> None:
    store = _one_path_store()
    gen = HFPathGenerator(student_dir, store)
    for k in (1, 5):
        res = gen.generate([GenerationRequest("who?", ["lonely topic"], k=k, max_hops=3)])[0]
        assert [p.path.text() for p in res.paths] == ["lonely topic -> knows -> only friend"]
        assert res.paths[0].verified and res.answers[0].answer == "only friend"


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_more_beams_than_paths(vllm_gen: object, codec: object) -> None:
    store = _one_path_store()
    saved = vllm_gen.store, vllm_gen.index  # type: ignore[attr-defined]
    vllm_gen.store, vllm_gen.index = store, KGIndex.build(store, codec)  # type: ignore[attr-defined,arg-type]
    try:
        for k in (1, 5):
            res = vllm_gen.generate([GenerationRequest("who?", ["lonely topic"], k=k, max_hops=3)])[0]  # type: ignore[attr-defined]
            assert [p.path.text() for p in res.paths] == ["lonely topic -> knows -> only friend"]
    finally:
        vllm_gen.store, vllm_gen.index = saved  # type: ignore[attr-defined]

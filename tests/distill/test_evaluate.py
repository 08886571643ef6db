"""Answer scoring of ``distill.evaluate``: Hits@1 and F1, strict and with MetaQA's topic convention."""

from __future__ import annotations

from decoding.results import vote
from decoding.types import GenerationRequest, GenerationResult, ScoredPath
from distill.evaluate import question_scores
from kg.memory_store import MemoryStore
from kg.types import Path, Triple


def _result(store: MemoryStore) -> GenerationResult:
    """'who directed the films written by x': x directed two of them itself, y the third."""
    store.add_triples(
        [Triple(f, "written_by", "x") for f in ("f1", "f2", "f3")]
        + [Triple(f, "directed_by", d) for f, d in (("f1", "x"), ("f2", "x"), ("f3", "y"))]
    )
    request = GenerationRequest("who directed the films written by x", ("x",), k=3, max_hops=2)
    paths = [
        ScoredPath(Path(("x", f, d), ("written_by_inv", "directed_by")), d, -0.1 * i, True)
        for i, (f, d) in enumerate((("f1", "x"), ("f2", "x"), ("f3", "y")))
    ]
    return GenerationResult(request=request, paths=paths, answers=vote(paths))


def test_topic_answers_are_skipped_only_under_the_convention() -> None:
    store = MemoryStore()
    result = _result(store)
    assert [h.answer for h in result.answers] == ["x", "y"]  # two paths vote for the topic itself
    strict = question_scores(result, ["y"], store)
    assert strict["hit"] == 0.0 and strict["f1"] == 2 / 3 and strict["faithful_paths"] == 3.0
    convention = question_scores(result, ["y"], store, exclude_topic_answers=True)
    assert convention["hit"] == 1.0 and convention["f1"] == 1.0
    assert (convention["hit_with_topic"], convention["f1_with_topic"]) == (0.0, 2 / 3)  # strict kept
    assert convention["grounded_answers"] == strict["grounded_answers"] == 2.0

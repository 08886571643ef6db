"""Trace format, KG-supervised traces and verification on real PathQuestion data with planted errors."""

from __future__ import annotations

import json
from pathlib import Path as FsPath

import pytest

from decoding.pathformat import parse_path_text, path_to_text
from distill.supervised import supervised_trace
from distill.teacher import make_trace, parse_answer
from distill.traces import Question, Trace, TraceWriter, done_ids, iter_traces, read_questions
from distill.verify import NameIndex, Verifier, check_path, normalize_name, training_paths
from kg.errors import DataFormatError
from kg.memory_store import MemoryStore
from kg.types import Path, Triple


def _gold(row: dict[str, object]) -> Path:
    ents = row["gold_entity_path"]
    rels = row["relation_path"]
    assert isinstance(ents, list) and isinstance(rels, list)
    return Path(tuple(ents), tuple(rels))


def _forward_row(store: MemoryStore, rows: list[dict[str, object]]) -> dict[str, object]:
    """A question whose gold path's last step is forward-only (its inverse is no KG edge)."""
    for row in rows:
        gold = _gold(row)
        flipped = Path(gold.entities, (*gold.relations[:-1], gold.relations[-1] + "_inv"))
        first_flip = Path(gold.entities, (gold.relations[0] + "_inv", *gold.relations[1:]))
        if store.has_path(gold) and not store.has_path(flipped) and not store.has_path(first_flip):
            return row
    raise AssertionError("no suitable question")


def test_teacher_text_parsing() -> None:
    text = (
        "The spouse is <PATH> martha_bulloch -> spouse -> theodore_roosevelt_sr </PATH>, then "
        "<PATH> martha_bulloch -> spouse -> theodore_roosevelt_sr -> gender -> male </PATH> and junk "
        "<PATH> a -> b </PATH>.\nAnswer: male\n"
    )
    paths = parse_path_text(text)
    assert [p.hops for p in paths] == [1, 2]  # the malformed span is skipped
    assert parse_answer(text) == "male"
    assert parse_answer("no answer line") is None
    q = Question(id="q1", question="?", topic_entities=["martha_bulloch"], answers=["male"])
    trace = make_trace(q, "t", text, {"total_tokens": 9})
    assert trace.cited_paths() == paths and trace.answer == "male" and trace.usage["total_tokens"] == 9


def test_trace_jsonl_roundtrip_and_resume(tmp_path: FsPath) -> None:
    file = tmp_path / "t.jsonl"
    with TraceWriter(file) as w:
        w.write(Trace(id="a", question="q", topic_entities=["x"], teacher="t", answer="y"))
        w.write(Trace(id="b", question="q", topic_entities=["x"], teacher="t", error="HTTP 500"))
    with open(file, "a", encoding="utf-8") as fh:
        fh.write('{"version": 1, "id": "c", "quest')  # a writer killed mid-line
    assert [t.id for t in iter_traces(file)] == ["a", "b"]
    assert done_ids(file) == {"a"}  # failed requests are retried on resume
    assert done_ids(file, include_errors=True) == {"a", "b"}
    with TraceWriter(file) as w:  # appending repairs the torn tail first
        w.write(Trace(id="c", question="q", topic_entities=["x"], teacher="t"))
    assert [t.id for t in iter_traces(file)] == ["a", "b", "c"]
    assert json.loads(file.read_text().splitlines()[0])["version"] == 1


def test_bad_trace_and_question_rows_name_the_line(tmp_path: FsPath) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"version": 2, "id": "a", "question": "q", "topic_entities": [], "teacher": "t"}\n')
    with pytest.raises(DataFormatError, match="version"):
        list(iter_traces(bad))
    qs = tmp_path / "q.jsonl"
    qs.write_text('{"id": 1, "question": "q", "topic_entity": "x", "answers": ["y"]}\n{"id": 2}\n')
    with pytest.raises(DataFormatError, match=":2"):
        read_questions(qs)


def test_supervised_traces_are_gold_consistent(pq_store: MemoryStore, pq_questions: list[Question]) -> None:
    for q in pq_questions[:50]:
        trace = supervised_trace(pq_store, q, 2, 8)
        assert trace.error is None, q.id
        assert trace.paths and all(pq_store.has_path(p) for p in trace.cited_paths())
        assert all(p.end in q.answers for p in trace.cited_paths())
        assert parse_path_text(trace.text) == trace.cited_paths()


def test_supervised_traces_follow_the_annotated_chain(
    pq_store: MemoryStore, pq_rows: list[dict[str, object]], pq_questions: list[Question]
) -> None:
    from distill.supervised import dominant_paths

    assert all(q.relation_path for q in pq_questions)  # read from the data set's relation_path field
    for row, q in list(zip(pq_rows, pq_questions, strict=True))[:80]:
        trace = supervised_trace(pq_store, q, 2, 8)
        assert [tuple(p.relations) for p in trace.paths] == [tuple(q.relation_path or ())] * len(trace.paths)
        assert _gold(row) in trace.cited_paths()
    # without the annotation: shortest paths, the chain whose end set matches the answers best
    q = next(q for q in pq_questions if q.relation_path == ["parents", "gender"])
    bare = q.model_copy(update={"relation_path": None})
    paths = supervised_trace(pq_store, bare, 2, 8).cited_paths()
    assert paths and all(p.end in q.answers for p in paths)
    # of two chains reaching the answer, the one reaching nothing else wins (F1 of its end set)
    store = MemoryStore()
    store.add_triples([Triple("x", "a", "y"), Triple("x", "b", "y"), Triple("x", "b", "z")])
    probe = Question(id="p", question="?", topic_entities=["x"], answers=["y"])
    shortest = store.shortest_paths(["x"], ["y"], 2, 10)
    assert {p.relations for p in shortest} == {("a",), ("b",)}
    assert [p.relations for p in dominant_paths(shortest, 4, store, probe)] == [("a",)]
    assert len(dominant_paths(shortest, 4)) == 2  # without the store: tied on cover, both kept


def test_an_annotated_chain_that_misses_the_answers_gives_no_trace() -> None:
    """A KB copy missing the chain's triples: another path to the answer is not what the question asks."""
    store = MemoryStore()
    store.add_triples(
        [Triple("x", "wrote", "f"), Triple("x", "directed", "g"), Triple("g", "language", "fr")]
    )
    q = Question(
        id="q",
        question="what language are the films written by x in",
        topic_entities=["x"],
        answers=["fr"],
        relation_path=["wrote", "language"],  # f has no language triple here
    )
    trace = supervised_trace(store, q, 2, 8, chain_fallback=False)
    assert not trace.paths and trace.error is not None and "annotated relation chain" in trace.error
    verifier = Verifier(store)
    assert not verifier.verify(trace).verification.kept  # type: ignore[union-attr]
    report = verifier.report.to_json()
    assert report["dropped_by_reason"] == {"trace_error": 1}
    assert report["dropped_examples"] == [{"id": "q", "reason": "trace_error", "error": trace.error}]
    # with the fallback (default), or without the annotation: the shortest paths (what GCR trains on)
    for fallback in (
        supervised_trace(store, q, 2, 8),
        supervised_trace(store, q.model_copy(update={"relation_path": None}), 2, 8),
    ):
        assert [p.relations for p in fallback.cited_paths()] == [("directed", "language")]


def test_relation_path_must_be_a_list_of_names(tmp_path: FsPath) -> None:
    qs = tmp_path / "q.jsonl"
    qs.write_text('{"id": 1, "question": "q", "topic_entity": "x", "answers": ["y"], "relation_path": "r"}\n')
    with pytest.raises(DataFormatError, match=":1"):
        read_questions(qs)


def test_verify_planted_hallucinations(pq_store: MemoryStore, pq_rows: list[dict[str, object]]) -> None:
    row = _forward_row(pq_store, pq_rows)
    gold = _gold(row)
    names = NameIndex(pq_store)
    assert check_path(pq_store, names, gold).status == "ok"

    reversed_last = Path(gold.entities, (*gold.relations[:-1], gold.relations[-1] + "_inv"))
    fixed = check_path(pq_store, names, reversed_last)
    assert (fixed.status, fixed.reason) == ("repaired", "direction")
    assert fixed.path is not None and fixed.path.to_path() == gold

    other_rel = next(
        r for r in ("gender", "nationality", "profession", "place_of_birth") if r not in gold.relations
    )
    wrong_rel = Path(gold.entities, (gold.relations[0], other_rel))
    assert check_path(pq_store, names, wrong_rel).status == "missing"

    fake = Path((gold.entities[0], "atlantis_the_lost_city", gold.entities[2]), gold.relations)
    missing = check_path(pq_store, names, fake)
    assert missing.status == "missing" and missing.reason.startswith("entity not in KG")

    display = gold.entities[0].replace("_", " ").title()  # "Martha Bulloch" for martha_bulloch
    renamed = check_path(pq_store, names, Path((display, *gold.entities[1:]), gold.relations))
    assert (renamed.status, renamed.reason) == ("repaired", "entity_name")


def test_verifier_rejects_dedupes_and_reports(
    pq_store: MemoryStore, pq_rows: list[dict[str, object]]
) -> None:
    row = _forward_row(pq_store, pq_rows)
    gold = _gold(row)
    answers = row["answers"]
    assert isinstance(answers, list)
    q = Question(
        id=str(row["id"]), question=str(row["question"]), topic_entities=[gold.start], answers=answers
    )
    reversed_last = Path(gold.entities, (*gold.relations[:-1], gold.relations[-1] + "_inv"))
    fake = Path((gold.entities[0], "atlantis_the_lost_city", gold.entities[2]), gold.relations)

    def trace(paths: list[Path], answer: str) -> Trace:
        text = " ".join(path_to_text(p) for p in paths) + f"\nAnswer: {answer}"
        return make_trace(q, "teacher-x", text)

    verifier = Verifier(pq_store)
    good = verifier.verify(trace([gold, fake], gold.end))
    assert good.verification is not None and good.verification.kept
    assert [c.status for c in good.verification.checks] == ["ok", "missing"]
    assert training_paths(good) == [gold]
    repaired = verifier.verify(trace([reversed_last], gold.end.upper()))  # same kept path set: duplicate
    assert repaired.verification is not None and repaired.verification.reason == "duplicate"
    wrong = verifier.verify(trace([gold], "atlantis_the_lost_city"))
    assert wrong.verification is not None and wrong.verification.reason == "wrong_answer"
    hallucinated = verifier.verify(trace([fake], gold.end))
    assert hallucinated.verification is not None and hallucinated.verification.reason == "all_paths_missing"
    report = verifier.report.to_json()
    assert report["traces_in"] == 4 and report["kept"] == 1
    assert report["dropped_by_reason"] == {"duplicate": 1, "wrong_answer": 1, "all_paths_missing": 1}
    assert report["paths"] == {"ok": 2, "missing": 2, "repaired": 1}
    assert report["repairs"] == {"direction": 1}


def test_normalize_name() -> None:
    assert normalize_name("  Martha_Bulloch ") == normalize_name("martha  bulloch") == "martha bulloch"


def test_forked_workers_give_the_same_traces(pq_store: MemoryStore, pq_questions: list[Question]) -> None:
    from distill.supervised import supervised_traces

    qs = pq_questions[:100]
    one = list(supervised_traces(pq_store, qs, 2, 8, progress=False))
    two = list(supervised_traces(pq_store, qs, 2, 8, progress=False, workers=2))
    assert one == two

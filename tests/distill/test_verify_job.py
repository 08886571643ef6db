"""The resumable verify job on real PathQuestion traces with planted faults: a run killed anywhere, or
an input that grew, ends with the same kept traces and report as one uninterrupted run."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path as FsPath

import pytest

from decoding.pathformat import path_to_text
from distill.supervised import supervised_traces
from distill.teacher import make_trace
from distill.traces import Question, Trace, TraceWriter, iter_traces
from distill.verify import Verifier
from distill.verify_job import run_verify, state_path
from kg.errors import DataFormatError, InputError
from kg.memory_store import MemoryStore
from kg.types import Path


@pytest.fixture(scope="module")
def planted(pq_store: MemoryStore, pq_questions: list[Question]) -> list[Trace]:
    """60 supervised traces, then a teacher's: a hallucinated path, a wrong answer and a late duplicate."""
    questions = pq_questions[:60]
    traces = list(supervised_traces(pq_store, questions, 2, 4, progress=False))
    first = traces[0].cited_paths()[0]
    fake = Path((first.start, "atlantis_the_lost_city", first.end), first.relations)
    q = questions[0]
    say = lambda p, a: make_trace(q, "teacher-x", f"{path_to_text(p)}\nAnswer: {a}")  # noqa: E731
    planted = [say(fake, first.end), say(first, "atlantis_the_lost_city"), traces[0]]
    return traces[:30] + planted + traces[30:]


def _write(file: FsPath, traces: list[Trace]) -> None:
    with TraceWriter(file, append=False) as w:
        w.write_all(traces)


def _reference(tmp_path: FsPath, store: MemoryStore, traces: list[Trace]) -> tuple[bytes, dict[str, object]]:
    src, out = tmp_path / "ref-in.jsonl", tmp_path / "ref-out.jsonl"
    _write(src, traces)
    report, skipped = run_verify(store, src, out, progress=False)
    assert skipped == 0
    return out.read_bytes(), report.to_json()


def test_uninterrupted_run_drops_the_planted_faults(
    tmp_path: FsPath, pq_store: MemoryStore, planted: list[Trace]
) -> None:
    _, report = _reference(tmp_path, pq_store, planted)
    assert report["traces_in"] == 63 and report["kept"] == 60
    assert report["dropped_by_reason"] == {"all_paths_missing": 1, "wrong_answer": 1, "duplicate": 1}


def test_a_grown_input_is_verified_incrementally(
    tmp_path: FsPath, pq_store: MemoryStore, planted: list[Trace]
) -> None:
    ref_out, ref_report = _reference(tmp_path, pq_store, planted)
    src, out = tmp_path / "raw.jsonl", tmp_path / "kept.jsonl"
    _write(src, planted[:20])
    with open(src, "a", encoding="utf-8") as fh:  # a traces job mid-write: half a line
        fh.write(planted[20].model_dump_json()[:40])
    first, skipped = run_verify(pq_store, src, out, progress=False, every=7)
    assert skipped == 0 and first.traces_in == 20
    _write(src, planted)  # the traces job went on and finished
    report, skipped = run_verify(pq_store, src, out, progress=False, every=7)
    assert skipped == 20  # the duplicate of trace 0 is still caught: the dedupe set was restored
    assert out.read_bytes() == ref_out and report.to_json() == ref_report
    again, skipped = run_verify(pq_store, src, out, progress=False)  # finished: nothing left to do
    assert skipped == 63 and again.to_json() == ref_report and out.read_bytes() == ref_out


def _killed_run(store: MemoryStore, src: FsPath, out: FsPath, at: int) -> None:
    # a hard kill at the ``at``-th trace: no finally, no flush of the state beyond the last checkpoint
    verify, seen = Verifier.verify, [0]

    def dying(self: Verifier, trace: Trace) -> Trace:
        seen[0] += 1
        if seen[0] == at:
            os._exit(9)
        return verify(self, trace)

    Verifier.verify = dying  # type: ignore[method-assign]
    run_verify(store, src, out, progress=False, every=10)


@pytest.mark.parametrize("hard", [True, False], ids=["killed", "interrupted"])
def test_a_stopped_run_resumes_to_the_same_result(
    tmp_path: FsPath,
    pq_store: MemoryStore,
    planted: list[Trace],
    hard: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ref_out, ref_report = _reference(tmp_path, pq_store, planted)
    src, out = tmp_path / "raw.jsonl", tmp_path / "kept.jsonl"
    _write(src, planted)
    if hard:
        child = multiprocessing.get_context("fork").Process(target=_killed_run, args=(pq_store, src, out, 26))
        child.start()
        child.join(60)
        assert child.exitcode == 9
        state = json.loads(state_path(out).read_text())
        assert state["lines"] == 20  # the last checkpoint; output lines after it are redone
        assert len(list(iter_traces(out))) > 20
    else:
        verify = Verifier.verify

        def interrupted(self: Verifier, trace: Trace) -> Trace:
            if self.report.traces_in == 25:
                raise KeyboardInterrupt
            return verify(self, trace)

        monkeypatch.setattr(Verifier, "verify", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run_verify(pq_store, src, out, progress=False, every=10)
        monkeypatch.setattr(Verifier, "verify", verify)
        assert json.loads(state_path(out).read_text())["lines"] == 25  # saved on the way out
    report, skipped = run_verify(pq_store, src, out, progress=False, every=10)
    assert skipped == (20 if hard else 25)
    assert out.read_bytes() == ref_out and report.to_json() == ref_report


def test_a_bad_line_names_itself_and_keeps_what_was_verified(
    tmp_path: FsPath, pq_store: MemoryStore, planted: list[Trace]
) -> None:
    src, out = tmp_path / "raw.jsonl", tmp_path / "kept.jsonl"
    _write(src, planted[:12])
    with open(src, "a", encoding="utf-8") as fh:
        fh.write('{"id": "broken", "question": 3}\n')
    with pytest.raises(DataFormatError, match=r"raw\.jsonl:13"):
        run_verify(pq_store, src, out, progress=False)
    assert len(list(iter_traces(out))) == 12 and json.loads(state_path(out).read_text())["lines"] == 12


def test_a_changed_input_or_options_is_refused_until_no_resume(
    tmp_path: FsPath, pq_store: MemoryStore, planted: list[Trace]
) -> None:
    src, out = tmp_path / "raw.jsonl", tmp_path / "kept.jsonl"
    _write(src, planted[:10])
    run_verify(pq_store, src, out, progress=False)
    with pytest.raises(InputError, match="--no-resume"):
        run_verify(pq_store, src, out, progress=False, require_answer=False)
    _write(src, planted[1:11])  # rewritten, not appended
    with pytest.raises(InputError, match="first 10 lines changed"):
        run_verify(pq_store, src, out, progress=False)
    report, skipped = run_verify(pq_store, src, out, progress=False, resume=False)
    assert skipped == 0 and report.traces_in == 10 and len(list(iter_traces(out))) == 10

"""The local transformers teacher: a checkpoint directory, chat template, greedy and sampled generation."""

from __future__ import annotations

from pathlib import Path as FsPath

from distill.teacher import LocalTeacher, teacher_jobs
from distill.traces import Question, TraceWriter, iter_traces
from kg.memory_store import MemoryStore


def test_local_teacher_writes_traces_with_usage(
    tmp_path: FsPath, pq_store: MemoryStore, pq_questions: list[Question]
) -> None:
    from distill.student_init import init_student, student_texts_from_store, train_tokenizer

    tok = train_tokenizer(student_texts_from_store(pq_store), tmp_path / "tok", 600)
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    init_student(
        tok, tmp_path / "teacher", hidden_size=64, layers=1, heads=1, intermediate=128, max_position=2048
    )
    jobs = teacher_jobs(pq_store, pq_questions[:2], hops=2, max_candidates=5, skip=set())
    out = tmp_path / "t.jsonl"
    for sample in (False, True):
        teacher = LocalTeacher(str(tmp_path / "teacher"), max_new_tokens=8, do_sample=sample)
        with TraceWriter(out) as writer:
            counts = teacher.run(jobs, writer, progress=False)
        assert counts["ok"] == 2 and counts["completion_tokens"] <= 16
    traces = list(iter_traces(out))
    assert len(traces) == 4 and all(t.teacher.startswith("local:") for t in traces)
    assert all(t.usage["prompt_tokens"] > 20 and 1 <= t.usage["completion_tokens"] <= 8 for t in traces)

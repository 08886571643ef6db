"""The accuracy benchmark's own helpers: held-out splits, eval samples, set aggregates and the report."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from distill.traces import Question


def _questions(n: int) -> list[Question]:
    return [
        Question(id=f"q{i}", question=f"question {i}", topic_entities=["a"], answers=["b"]) for i in range(n)
    ]


def test_metaqa_split_is_seeded_disjoint_and_complete(accuracy: ModuleType, tmp_path: Path) -> None:
    hop_dir = tmp_path / "metaqa" / "2-hop"
    hop_dir.mkdir(parents=True)
    rows = [{"id": f"m{i}", "question": f"q {i}", "topic_entity": "a", "answers": ["b"]} for i in range(50)]
    (hop_dir / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    train, val = accuracy.metaqa_split(tmp_path, 2, 0, 0.1)
    assert len(val) == 5 and len(train) == 45
    assert {q.id for q in train}.isdisjoint({q.id for q in val})
    assert accuracy.metaqa_split(tmp_path, 2, 0, 0.1) == (train, val)  # same seed, same slice
    assert accuracy.metaqa_split(tmp_path, 2, 1, 0.1)[1] != val


def test_eval_sample_keeps_file_order_and_spreads(accuracy: ModuleType) -> None:
    questions = _questions(100)
    sample = accuracy.eval_sample(questions, 10, 0)
    ids = [int(q.id[1:]) for q in sample]
    assert len(sample) == 10 and ids == sorted(ids) and ids != list(range(10))
    assert accuracy.eval_sample(questions, 10, 0) == sample
    assert accuracy.eval_sample(questions, 0, 0) == questions  # 0: every question
    assert accuracy.eval_sample(questions[:5], 10, 0) == questions[:5]


def test_repeats_lift_small_sets_up_to_a_cap(accuracy: ModuleType) -> None:
    assert accuracy.repeats(1000, 3000) == 3
    assert accuracy.repeats(100, 3000) == 4  # capped
    assert accuracy.repeats(5000, 3000) == 1
    assert accuracy.repeats(0, 3000) == 1


def _row(
    name: str, n: int, hits: float, faithful: float | None, paths: int, constrained: bool = True
) -> dict[str, Any]:
    return {
        "set": name, "constrained": constrained, "n": n, "hits@1": hits, "f1": hits,
        "faithful_path_rate": faithful, "answer_grounded_rate": faithful,
        "paths_returned": paths, "answers_returned": paths, "latency_ms_p50": 10.0,
    }  # fmt: skip


def test_grouped_weights_sets_by_questions_and_paths(accuracy: ModuleType) -> None:
    rows = [
        _row("PQ-2H", 100, 1.0, 1.0, 300),
        _row("PQ-3H", 300, 0.8, 0.5, 100),
        _row("PQL-2H", 10, 0.5, None, 0),
        _row("PQ-2H", 100, 0.1, 0.0, 300, constrained=False),
    ]
    grouped = dict(accuracy.grouped(rows, constrained=True))
    pq = grouped["PQ (2H+3H)"]
    assert pq["n"] == 400 and pq["hits@1"] == pytest.approx(0.85)  # per question, not per set
    assert pq["faithful_path_rate"] == pytest.approx((300 + 50) / 400)  # per returned path
    assert grouped["PQL (2H+3H+3H_more)"]["faithful_path_rate"] is None  # no paths: no rate
    assert set(grouped) == {"PQ (2H+3H)", "PQL (2H+3H+3H_more)", "PQ-2H", "PQ-3H", "PQL-2H"}


def test_markdown_names_the_run_kind_and_every_set(accuracy: ModuleType) -> None:
    config = {
        "layers": 2,
        "hidden_size": 64,
        "heads": 2,
        "vocab_size": 500,
        "max_paths_per_trace": 8,
        "batch_size": 4,
    }
    report = {
        "train": {
            "config": config, "examples": 10, "steps": 5, "epochs_done": 1.0,
            "first_loss": 3.0, "final_loss": 1.0, "seconds": 60.0,
        },
        "student_reused": True,
        "eval": [
            _row("PQ-2H", 4, 0.5, 1.0, 8),
            {**_row("MetaQA-2hop", 4, 0.75, 1.0, 8), "hits@1_with_topic": 0.5},
            _row("PQ-2H", 4, 0.25, 0.5, 8, constrained=False),
        ],
        "args": {"machine": "test box", "k": 5, "eval_limit": 500, "device": "cpu"},
    }  # fmt: skip
    text = accuracy.markdown(report, smoke=True)
    assert "SMOKE run" in text and "reused its student" in text and "test box" in text
    assert "| PQ-2H | 4 | 50.0 | = |" in text and "| PQ-2H | 4 | 25.0 | = |" in text
    assert "| MetaQA-2hop | 4 | 75.0 | 50.0 |" in text  # the strict figure beside the convention's
    assert "SMOKE" not in accuracy.markdown({**report, "student_reused": False}, smoke=False)

"""``kgr eval`` and the ``kgr distill`` commands end to end with a tiny trained student."""

from __future__ import annotations

import json
from pathlib import Path as FsPath

import pytest

from distill.traces import Trace, iter_traces
from service.cli import main

pytestmark = pytest.mark.slow


def _last_json(out: str) -> dict[str, object]:
    return json.loads(out.strip().splitlines()[-1])


def _questions(tmp_path: FsPath, pq_dir: FsPath, n: int) -> FsPath:
    src = (pq_dir / "splits_grouped" / "PQ-2H.train.jsonl").read_text().splitlines()[:n]
    file = tmp_path / "q.jsonl"
    file.write_text("\n".join(src) + "\n")
    return file


def test_eval_reports_metrics_and_constrained_paths_are_faithful(
    tmp_path: FsPath,
    pq_dir: FsPath,
    trained_student: tuple[FsPath, list[Trace], dict[str, object]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    student, _, _ = trained_student
    questions = _questions(tmp_path, pq_dir, 6)
    kb = ["--kb", str(pq_dir / "2H-kb.txt"), "--kb-format", "pathquestion"]
    base = ["eval", *kb, "--questions", str(questions), "--student", str(student), "--hops", "2", "--k", "3"]
    assert main([*base, "--json", "--predictions", str(tmp_path / "p.jsonl")]) == 0
    result = _last_json(capsys.readouterr().out)
    for key in ("n", "hits@1", "f1", "faithful_path_rate", "answer_grounded_rate", "latency_ms_p50"):
        assert key in result, key
    assert result["n"] == 6 and result["paths_returned"] and result["faithful_path_rate"] == 1.0
    assert result["answer_grounded_rate"] == 1.0
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 6
    assert result["exclude_topic_answers"] is False and "hits@1_with_topic" not in result
    assert main([*base, "--exclude-topic-answers", "--json"]) == 0
    convention = _last_json(capsys.readouterr().out)
    assert convention["exclude_topic_answers"] is True
    # same beams: the strict figures come back beside the convention's
    assert (convention["hits@1_with_topic"], convention["f1_with_topic"]) == (result["hits@1"], result["f1"])
    assert main([*base, "--unconstrained", "--limit", "3", "--json"]) == 0
    free = _last_json(capsys.readouterr().out)
    assert free["n"] == 3 and free["constrained"] is False
    rate = free["faithful_path_rate"]
    if free["paths_returned"]:  # an undertrained student may write no well-formed path at all
        assert isinstance(rate, float) and 0.0 <= rate <= 1.0
    else:
        assert rate is None


def test_distill_cli_pipeline(tmp_path: FsPath, pq_dir: FsPath, capsys: pytest.CaptureFixture[str]) -> None:
    questions = _questions(tmp_path, pq_dir, 30)
    kb = ["--kb", str(pq_dir / "2H-kb.txt"), "--kb-format", "pathquestion"]
    raw, kept = tmp_path / "raw.jsonl", tmp_path / "kept.jsonl"
    args = [
        "distill",
        "traces",
        *kb,
        "--questions",
        str(questions),
        "--out",
        str(raw),
        "--supervised",
        "--hops",
        "2",
    ]
    assert main([*args, "--limit", "20"]) == 0
    assert _last_json(capsys.readouterr().out)["already_done"] == 0
    assert main(args) == 0  # resumed: the first 20 are skipped
    summary = _last_json(capsys.readouterr().out)
    assert summary["already_done"] == 20 and len(list(iter_traces(raw))) == 30
    assert (
        main(
            [
                "distill",
                "verify",
                *kb,
                "--traces",
                str(raw),
                "--out",
                str(kept),
                "--report",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    report = _last_json(capsys.readouterr().out)
    assert report["traces_in"] == 30 and report["kept"] == 30
    assert json.loads((tmp_path / "r.json").read_text())["paths"]["ok"] >= 30
    out = tmp_path / "student"
    train = [
        "distill",
        "train",
        *kb,
        "--traces",
        str(kept),
        "--out",
        str(out),
        "--hidden-size",
        "128",
        "--layers",
        "1",
        "--heads",
        "2",
        "--intermediate",
        "256",
        "--vocab-size",
        "800",
        "--max-steps",
        "4",
        "--batch-size",
        "8",
    ]
    assert main(train) == 0
    trained = _last_json(capsys.readouterr().out)
    assert trained["steps"] == 4 and (out / "model.safetensors").exists()


@pytest.mark.vllm
def test_eval_with_vllm_backend_is_faithful(
    tmp_path: FsPath,
    pq_dir: FsPath,
    trained_student: tuple[FsPath, list[Trace], dict[str, object]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    student, _, _ = trained_student
    questions = _questions(tmp_path, pq_dir, 4)
    kb = ["--kb", str(pq_dir / "2H-kb.txt"), "--kb-format", "pathquestion"]
    args = ["eval", *kb, "--questions", str(questions), "--student", str(student), "--hops", "2", "--k", "2"]
    assert main([*args, "--backend", "vllm", "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out)  # stdout holds the one JSON object: vLLM's logs go to stderr
    assert result["backend"] == "vllm" and result["n"] == 4
    assert result["paths_returned"] and result["faithful_path_rate"] == 1.0

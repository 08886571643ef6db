"""``kgr bench trie`` prints one JSON object with every strategy's figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "decoding"


def test_bench_trie_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "bench", "trie", "--kb", str(FIXTURES / "metaqa_cut.txt"), "--kb-format", "metaqa",
            "--questions", str(FIXTURES / "metaqa_cut_questions.jsonl"), "--hops", "2", "--n", "2", "--json",
        ]
    )  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["questions"] == 2 and out["paths"]["max"] > 0
    for name in ("lazy", "materialized", "gcr"):
        figures = out["strategies"][name]
        assert set(figures) == {"setup_ms", "step_us_per_beam", "peak_mem_mb"}
        assert figures["setup_ms"]["p50"] > 0 and figures["step_us_per_beam"]["p95"] > 0

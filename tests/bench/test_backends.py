"""The decoding-arms benchmark's own helpers: arm parsing and the per-question agreement counts."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest


def _prediction(answers: list[str], paths: list[tuple[list[str], list[str]]]) -> dict[str, Any]:
    return {"answers": answers, "paths": [{"entities": e, "relations": r} for e, r in paths]}


def test_arms_parse_with_relative_scoring_by_default(backends: ModuleType) -> None:
    assert backends._parse_arm("hf") == ("hf", "hf", "relative")
    assert backends._parse_arm("vllm:raw") == ("vllm:raw", "vllm", "raw")
    for bad in ("gpu", "hf:best", "hf:"):
        with pytest.raises(SystemExit, match="BACKEND"):
            backends._parse_arm(bad)


def test_agreement_compares_order_and_top_answer(backends: ModuleType) -> None:
    ab = (["a", "b"], ["r"])
    ac = (["a", "c"], ["r"])
    first = [_prediction(["b", "c"], [ab, ac]), _prediction(["b"], [ab]), _prediction([], [])]
    other = [_prediction(["b", "c"], [ab, ac]), _prediction(["b", "c"], [ab, ac]), _prediction([], [])]
    assert backends.agreement(first, other) == {"identical_path_lists": 2, "identical_top_answer": 3}
    swapped = [_prediction(["c", "b"], [ac, ab]), *other[1:]]
    assert backends.agreement(first, swapped) == {"identical_path_lists": 1, "identical_top_answer": 2}

"""What a path generator takes and returns; the contract between decoding, distill and service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kg.types import Path


@dataclass(frozen=True)
class GenerationRequest:
    question: str
    topic_entities: Sequence[str]
    k: int = 5
    max_hops: int = 2
    constrained: bool = True


@dataclass(frozen=True)
class ScoredPath:
    path: Path
    answer: str  # hypothesis answer the student wrote after </PATH>
    score: float  # summed log-prob (entity tokens relative to the best one unless entity_scoring="raw")
    verified: bool  # re-checked against the KG after decoding; False must never happen when constrained

    def to_json(self) -> dict[str, object]:
        return {
            **self.path.to_json(),
            "text": self.path.text(),
            "answer": self.answer,
            "score": self.score,
            "verified": self.verified,
        }


@dataclass(frozen=True)
class Hypothesis:
    answer: str
    score: float  # share of probability mass of the paths that end in it (sums to 1 over answers)
    paths: tuple[ScoredPath, ...]


@dataclass
class GenerationResult:
    request: GenerationRequest
    paths: list[ScoredPath]  # top-K distinct, best first
    answers: list[Hypothesis]  # score-weighted vote, best first
    generated_tokens: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)


class PathGenerator(Protocol):
    """A student model behind one backend (transformers or vLLM)."""

    backend: str

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]: ...

    def close(self) -> None: ...

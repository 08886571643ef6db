"""Turning decoded id sequences into verified, deduplicated paths and a score-weighted answer vote."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from decoding.pathformat import PathCodec
from decoding.types import GenerationRequest, GenerationResult, Hypothesis, ScoredPath
from kg.store import GraphStore


def collect_paths(
    codec: PathCodec,
    store: GraphStore,
    request: GenerationRequest,
    outputs: Iterable[tuple[Sequence[int], float]],
) -> list[ScoredPath]:
    """Parse ``(generated ids, log-prob)`` outputs; keep the best-scored occurrence of each path.

    Every path is re-checked against the KG (and against the request's topics and hop limit); an
    output that does not parse as a path is dropped.
    """
    best: dict[object, ScoredPath] = {}
    topics = set(request.topic_entities)
    for ids, score in outputs:
        parsed = codec.parse(ids)
        if parsed.path is None:
            continue
        path = parsed.path
        verified = path.start in topics and path.hops <= request.max_hops and store.has_path(path)
        answer = parsed.answer if parsed.answer is not None else path.end
        sp = ScoredPath(path=path, answer=answer, score=float(score), verified=verified)
        if path not in best or best[path].score < sp.score:
            best[path] = sp
    return sorted(best.values(), key=lambda p: (-p.score, p.path.sort_key()))[: request.k]


def vote(paths: Sequence[ScoredPath]) -> list[Hypothesis]:
    """Answers weighted by the (normalised) probability of the paths that end in them."""
    if not paths:
        return []
    top = max(p.score for p in paths)
    weights = [math.exp(p.score - top) for p in paths]
    total = sum(weights)
    mass: dict[str, float] = {}
    members: dict[str, list[ScoredPath]] = {}
    for p, w in zip(paths, weights, strict=True):
        mass[p.answer] = mass.get(p.answer, 0.0) + w / total
        members.setdefault(p.answer, []).append(p)
    ranked = sorted(mass, key=lambda a: (-mass[a], a))
    return [Hypothesis(answer=a, score=mass[a], paths=tuple(members[a])) for a in ranked]


def make_result(
    request: GenerationRequest, paths: list[ScoredPath], generated_tokens: int, timings_ms: dict[str, float]
) -> GenerationResult:
    return GenerationResult(
        request=request,
        paths=paths,
        answers=vote(paths),
        generated_tokens=generated_tokens,
        timings_ms={k: round(v, 3) for k, v in timings_ms.items()},
    )

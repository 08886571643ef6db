"""Shared checks: random constrained walks, path feeding, and strategy agreement."""

from __future__ import annotations

import random
from collections.abc import Sequence

from decoding.constraint import ConstraintState, initial_state
from decoding.index import KGIndex
from decoding.pathformat import PathCodec
from kg.store import GraphStore


def random_walk_outputs(
    index: KGIndex, topics: Sequence[str], hops: int, walks: int, seed: int
) -> list[list[int]]:
    """Sample outputs by choosing uniformly among allowed tokens, checking the two strategies agree."""
    rng = random.Random(seed)
    lazy0 = initial_state(index, topics, hops, "lazy")
    mat0 = initial_state(index, topics, hops, "materialized")
    outs = []
    for _ in range(walks):
        lazy: ConstraintState | None = lazy0
        mat: ConstraintState | None = mat0
        ids: list[int] = []
        while True:
            assert lazy is not None and mat is not None
            allowed = lazy.allowed().tolist()
            assert allowed, f"dead end after {ids}"
            assert allowed == mat.allowed().tolist(), f"strategies differ after {ids}"
            if lazy.terminated:
                assert mat.terminated and allowed == [index.codec.eos_id]
                break
            token = rng.choice(allowed)
            ids.append(token)
            lazy, mat = lazy.advance(token), mat.advance(token)
        outs.append(ids)
    return outs


def check_sound(
    codec: PathCodec, store: GraphStore, topics: Sequence[str], hops: int, ids: list[int]
) -> None:
    parsed = codec.parse(ids)
    assert parsed.complete and parsed.path is not None, ids
    assert parsed.path.start in topics
    assert 1 <= parsed.path.hops <= hops
    assert store.has_path(parsed.path), parsed.path
    assert parsed.answer == parsed.path.end
    assert codec.encode_output(parsed.path) == ids  # the output is exactly the canonical encoding


def check_complete(index: KGIndex, store: GraphStore, topics: Sequence[str], hops: int, strategy: str) -> int:
    """Every KG path from the topics can be fed token by token and ends terminated."""
    start = initial_state(index, topics, hops, strategy)  # type: ignore[arg-type]
    paths = store.paths_from(topics, hops, 10**7)
    for path in paths:
        state: ConstraintState | None = start
        for token in index.codec.encode_output(path):
            assert state is not None
            state = state.advance(token)
            assert state is not None, f"{path} rejected at token {token}"
        assert state.terminated
    return len(paths)

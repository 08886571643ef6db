"""Neo4jStore answers exactly like MemoryStore on real KBs and on random graphs.

Real KBs: PathQuestion 2H-kb and PQL2-KB (seeded sample of the topic entities of their questions) and a
MetaQA slice (tests/fixtures/kg). Random graphs (hypothesis): self-loops, multi-edges, cycles.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import neo4j
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kg_test_kbs import memory_kb, neo4j_kb

from kg.memory_store import MemoryStore
from kg.naming import inverse
from kg.neo4j_store import Neo4jStore
from kg.store import GraphStore
from kg.types import Path as KgPath
from kg.types import Triple

pytestmark = pytest.mark.neo4j
SAMPLE = 12
BIG = 1_000_000


def corrupt(path: KgPath) -> KgPath:
    """The same walk with its last step reversed (usually not a path of the graph)."""
    return KgPath(path.entities, (*path.relations[:-1], inverse(path.relations[-1])))


def compare(neo: GraphStore, mem: GraphStore, topics: list[str], others: list[str]) -> None:
    for topic in topics:
        assert neo.neighbors(topic) == mem.neighbors(topic), topic
        for relation, _ in mem.neighbors(topic)[:3]:
            assert neo.neighbors(topic, relation) == mem.neighbors(topic, relation)
            every = [*topics, *others]
            assert neo.steps_along(every, relation) == mem.steps_along(every, relation)
        for hops in (1, 2, 3):
            expected = mem.paths_from([topic], hops, BIG)
            assert neo.paths_from([topic], hops, BIG) == expected, (topic, hops)
            assert neo.paths_from([topic], hops, 25) == expected[:25]
        for path in mem.paths_from([topic], 3, 40):
            assert neo.has_path(path) and mem.has_path(path)
            assert neo.chain_paths([topic], path.relations, BIG) == mem.chain_paths(
                [topic], path.relations, BIG
            )
            assert neo.has_path(corrupt(path)) == mem.has_path(corrupt(path))
        for hops in (2, 3):
            assert neo.shortest_paths([topic], others, hops, BIG) == mem.shortest_paths(
                [topic], others, hops, BIG
            )
    assert neo.paths_from(topics, 2, 100) == mem.paths_from(topics, 2, 100)
    assert neo.shortest_paths(topics, others, 3, 50) == mem.shortest_paths(topics, others, 3, 50)


@pytest.mark.parametrize(("kb", "questions"), [("2H-kb.txt", "PQ-2H"), ("PQL2-KB.txt", "PQL-2H")])
def test_pathquestion_kbs(
    neo4j_session_store: Neo4jStore, shared_data: Path, kb: str, questions: str
) -> None:
    mem = memory_kb(shared_data, kb)
    neo = neo4j_kb(neo4j_session_store, shared_data, kb)
    assert neo.stats() == mem.stats()
    rows = [
        json.loads(line)
        for line in (shared_data / "pathquestion" / "splits_grouped" / f"{questions}.dev.jsonl").open()
    ]
    rng = random.Random(20261127)
    picked = rng.sample(rows, SAMPLE)
    topics = sorted({row["topic_entity"] for row in picked})
    answers = sorted({a for row in picked for a in row["answers"]})
    entities = sorted({t.head for t in mem.iter_triples()})
    compare(neo, mem, topics, answers + rng.sample(entities, 20))


def test_metaqa_slice(neo4j_session_store: Neo4jStore, shared_data: Path) -> None:
    mem = memory_kb(shared_data, "metaqa_slice")
    neo = neo4j_kb(neo4j_session_store, shared_data, "metaqa_slice")
    assert neo.stats() == mem.stats()
    assert set(neo.iter_triples()) == set(mem.iter_triples())
    movies = sorted({t.head for t in mem.iter_triples() if t.relation == "directed_by"})
    rng = random.Random(7)
    topics = rng.sample(movies, SAMPLE)
    others = rng.sample(sorted({t.tail for t in mem.iter_triples()}), 30) + rng.sample(movies, 10)
    compare(neo, mem, topics, others)


_names = st.sampled_from(["a", "b", "c", "d", "e", "x'})", "ü 😀"])
_relations = st.sampled_from(["r", "s", "t`", "has space"])
_graphs = st.lists(st.builds(Triple, _names, _relations, _names), min_size=1, max_size=18)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(triples=_graphs, hops=st.integers(1, 3), limit=st.integers(1, 60))
def test_random_graphs(neo4j_store: Neo4jStore, triples: list[Triple], hops: int, limit: int) -> None:
    neo4j_store.clear()
    mem = MemoryStore()
    assert neo4j_store.add_triples(triples) == mem.add_triples(triples)
    assert neo4j_store.stats() == mem.stats()
    names = sorted({n for t in triples for n in (t.head, t.tail)})
    for name in names:
        assert neo4j_store.neighbors(name) == mem.neighbors(name)
        assert neo4j_store.paths_from([name], hops, limit) == mem.paths_from([name], hops, limit)
        assert neo4j_store.shortest_paths([name], names, hops, limit) == mem.shortest_paths(
            [name], names, hops, limit
        )
    assert neo4j_store.paths_from(names, hops, limit) == mem.paths_from(names, hops, limit)
    for relation in sorted({r for name in names for r, _ in mem.neighbors(name)}):
        assert neo4j_store.steps_along(names, relation) == mem.steps_along(names, relation)
        chain = (relation,) * hops
        for name in names:
            assert neo4j_store.chain_paths([name], chain, limit) == mem.chain_paths([name], chain, limit)


def test_chain_paths_take_one_round_trip_per_step(neo4j_store: Neo4jStore) -> None:
    """A chain walk expands a whole frontier per query, not one entity per query (fan-out 3 x 3)."""
    neo4j_store.clear()
    triples = [Triple("root", "r", f"m{i}") for i in range(3)]
    triples += [Triple(f"m{i}", "s", f"leaf{i}{j}") for i in range(3) for j in range(3)]
    neo4j_store.add_triples(triples)
    reads: list[str] = []
    real_read = neo4j_store._read

    def counting_read(query: str, **params: Any) -> list[neo4j.Record]:
        reads.append(query)
        return real_read(query, **params)

    neo4j_store._read = counting_read  # type: ignore[method-assign]
    try:
        paths = neo4j_store.chain_paths(["root"], ("r", "s", "s_inv"), BIG)
    finally:
        del neo4j_store._read
    assert len(paths) == 0  # s_inv straight back over the triple s walked is not a path
    assert len(reads) == 3  # one query per step
    assert len(neo4j_store.chain_paths(["root"], ("r", "s"), BIG)) == 9

"""Neo4jStore against the real server: hostile names, idempotency, crash convergence, failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg import neo4j_store as neo4j_store_module
from kg.errors import DataFormatError, StoreUnavailableError
from kg.loaders import load_file
from kg.memory_store import MemoryStore
from kg.neo4j_store import Neo4jStore
from kg.store import GraphStore
from kg.types import Path as KgPath
from kg.types import Triple

# Names that break naive string-built Cypher (or naive parsers); all must round-trip as plain data.
HOSTILE = [
    "x'}) DETACH DELETE n //",
    'double "quoted" name',
    "back`tick`",
    "closing }) ] and $param",
    "with space",
    "Ünïcødé 名前 😀",
    "\\ backslash \\u0041",
    "MATCH (n) RETURN n",
    "__film__cinematographer__film",
]
HOSTILE_TRIPLES = [
    Triple(HOSTILE[0], HOSTILE[8], HOSTILE[1]),
    Triple(HOSTILE[1], "rel with space", HOSTILE[2]),
    Triple(HOSTILE[2], "`); DROP", HOSTILE[3]),
    Triple(HOSTILE[3], "$(type)", HOSTILE[4]),
    Triple(HOSTILE[4], "r'}", HOSTILE[5]),
    Triple(HOSTILE[5], "ü", HOSTILE[6]),
    Triple(HOSTILE[6], "MATCH (n) DETACH DELETE n", HOSTILE[7]),
    Triple(HOSTILE[7], HOSTILE[8], HOSTILE[0]),
    Triple(HOSTILE[8], "x'}]->() DELETE r //", HOSTILE[8]),
    Triple(HOSTILE[0], "self loop", HOSTILE[0]),
]


def assert_same_answers(a: GraphStore, b: GraphStore, names: list[str]) -> None:
    assert a.stats() == b.stats()
    assert set(a.iter_triples()) == set(b.iter_triples())
    for name in names:
        assert a.has_entity(name) and b.has_entity(name)
        assert a.neighbors(name) == b.neighbors(name)
        for hops in (1, 2, 3):
            assert a.paths_from([name], hops, 10_000) == b.paths_from([name], hops, 10_000)
        assert a.shortest_paths([name], names, 3, 10_000) == b.shortest_paths([name], names, 3, 10_000)


@pytest.mark.neo4j
def test_hostile_names_round_trip(neo4j_store: Neo4jStore) -> None:
    memory = MemoryStore()
    assert neo4j_store.add_triples(HOSTILE_TRIPLES) == memory.add_triples(HOSTILE_TRIPLES) == 10
    assert_same_answers(neo4j_store, memory, HOSTILE)
    for t in HOSTILE_TRIPLES:
        assert neo4j_store.has_triple(t.head, t.relation, t.tail)
        assert neo4j_store.neighbors(t.head, t.relation) == memory.neighbors(t.head, t.relation)
        assert neo4j_store.neighbors(t.tail, t.relation + "_inv") == memory.neighbors(
            t.tail, t.relation + "_inv"
        )
    assert not neo4j_store.has_triple(HOSTILE[1], HOSTILE[8], HOSTILE[0])
    assert not neo4j_store.has_entity("x")
    assert neo4j_store.stats().entities == len(HOSTILE)  # the injection-looking name deleted nothing


@pytest.mark.neo4j
def test_self_loops_and_multi_edges_match_memory(neo4j_store: Neo4jStore) -> None:
    triples = [
        Triple("a", "r", "a"),
        Triple("a", "s", "a"),
        Triple("a", "r", "b"),
        Triple("a", "s", "b"),
        Triple("b", "r", "a"),
        Triple("b", "t", "c"),
    ]
    memory = MemoryStore()
    memory.add_triples(triples)
    neo4j_store.add_triples(triples)
    assert_same_answers(neo4j_store, memory, ["a", "b", "c"])
    # a self-loop is walked both ways, but once per path
    assert KgPath(("a", "a", "a"), ("r", "r_inv")) not in neo4j_store.paths_from(["a"], 2, 1000)
    assert KgPath(("a", "a", "a"), ("r", "s_inv")) in neo4j_store.paths_from(["a"], 2, 1000)


@pytest.mark.neo4j
def test_limit_cuts_after_sorting(neo4j_store: Neo4jStore) -> None:
    triples = [Triple("hub", f"r{i % 3}", f"n{i}") for i in range(30)] + [Triple("n1", "z", "hub")]
    memory = MemoryStore()
    memory.add_triples(triples)
    neo4j_store.add_triples(triples)
    for limit in (1, 5, 17, 1000):
        assert neo4j_store.paths_from(["hub"], 2, limit) == memory.paths_from(["hub"], 2, limit)
    targets = [f"n{i}" for i in range(30)]
    assert neo4j_store.shortest_paths(["hub"], targets, 2, 4) == memory.shortest_paths(["hub"], targets, 2, 4)
    assert neo4j_store.paths_from(["hub"], 2, 0) == []
    assert neo4j_store.paths_from(["unknown"], 2, 10) == memory.paths_from(["unknown"], 2, 10) == []


@pytest.mark.neo4j
def test_reload_creates_nothing(neo4j_store: Neo4jStore, tmp_path: Path) -> None:
    path = tmp_path / "kb.txt"
    path.write_text("".join(f"e{i}|r{i % 4}|e{(i * 7) % 50}\n" for i in range(300)), encoding="utf-8")
    first = load_file(neo4j_store, path, "metaqa")
    stats = neo4j_store.stats()
    assert neo4j_store.created == {"nodes": stats.entities, "relationships": 300}
    again = load_file(neo4j_store, path, "metaqa")
    assert first.added == stats.triples == 300 and again.added == 0
    assert neo4j_store.created == {"nodes": stats.entities, "relationships": 300}  # the reload created 0/0
    assert neo4j_store.stats() == stats


@pytest.mark.neo4j
def test_crash_mid_load_converges_on_rerun(
    neo4j_store: Neo4jStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "kb.txt"
    path.write_text("".join(f"e{i}|r{i % 5}|e{(i * 13) % 97}\n" for i in range(500)), encoding="utf-8")
    expected = MemoryStore()
    load_file(expected, path, "metaqa")
    neo4j_store.batch_size = 64
    real_write_batch = neo4j_store._write_batch
    calls = {"n": 0}

    def crash_on_third(triples: list[Triple]) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise StoreUnavailableError("simulated crash")
        return real_write_batch(triples)

    monkeypatch.setattr(neo4j_store, "_write_batch", crash_on_third)
    with pytest.raises(StoreUnavailableError):
        load_file(neo4j_store, path, "metaqa")
    partial = neo4j_store.stats()
    assert 0 < partial.triples < 500
    monkeypatch.undo()
    report = load_file(neo4j_store, path, "metaqa")
    assert report.added == 500 - partial.triples
    assert neo4j_store.stats() == expected.stats()
    assert set(neo4j_store.iter_triples()) == set(expected.iter_triples())


@pytest.mark.neo4j
def test_failed_load_loses_nothing(neo4j_store: Neo4jStore, tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("a|r|b\nb|r|c\n", encoding="utf-8")
    load_file(neo4j_store, good, "metaqa")
    before = set(neo4j_store.iter_triples())
    bad = tmp_path / "bad.txt"
    bad.write_text("".join(f"n{i}|r|m{i}\n" for i in range(100)) + "n|r_inv|m\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        load_file(neo4j_store, bad, "metaqa")
    assert (info.value.line, info.value.field) == (101, "relation")
    assert set(neo4j_store.iter_triples()) == before
    assert neo4j_store.stats().entities == 3


@pytest.mark.neo4j
def test_iter_triples_pages_and_clear(neo4j_store: Neo4jStore, monkeypatch: pytest.MonkeyPatch) -> None:
    triples = {Triple(f"h{i % 11}", f"r{i % 3}", f"t{i}") for i in range(200)}
    neo4j_store.add_triples(triples)
    monkeypatch.setattr(neo4j_store_module, "_PAGE_HEADS", 4)  # many pages over 211 entities
    assert sorted(neo4j_store.iter_triples(), key=str) == sorted(triples, key=str)
    neo4j_store.batch_size = 37  # clear() deletes in batches of this size
    neo4j_store.clear()
    assert neo4j_store.stats().to_json() == {"entities": 0, "triples": 0, "relations": 0}
    assert list(neo4j_store.iter_triples()) == []


@pytest.mark.neo4j
def test_ping_and_has_path(neo4j_store: Neo4jStore) -> None:
    assert neo4j_store.ping()
    neo4j_store.add_triples([Triple("a", "r", "b"), Triple("c", "s", "b")])
    assert neo4j_store.has_path(KgPath(("a", "b", "c"), ("r", "s_inv")))
    assert not neo4j_store.has_path(KgPath(("a", "b", "a"), ("r", "r_inv")))  # walks back over a triple
    neo4j_store.add_triples([Triple("b", "t", "a")])  # a -r-> b -t-> a -r-> b walks (a, r, b) twice
    assert neo4j_store.has_path(KgPath(("a", "b", "a", "b"), ("r", "t", "r")))
    assert KgPath(("a", "b", "a", "b"), ("r", "t", "r")) in neo4j_store.paths_from(["a"], 3, 100)
    assert not neo4j_store.has_path(KgPath(("a", "b", "c"), ("r", "s")))


def test_unreachable_server_raises_store_unavailable_naming_the_uri() -> None:
    uri = "bolt://127.0.0.1:1"  # nothing listens on port 1
    store = Neo4jStore(uri, connection_timeout_s=1.0, max_retry_s=0.5)
    try:
        assert store.ping() is False
        with pytest.raises(StoreUnavailableError, match=r"bolt://127\.0\.0\.1:1\b"):
            store.stats()
        with pytest.raises(StoreUnavailableError, match=r"bolt://127\.0\.0\.1:1\b"):
            store.add_triples([Triple("a", "r", "b")])
    finally:
        store.close()


def test_bad_uri_is_a_store_unavailable_error() -> None:
    with pytest.raises(StoreUnavailableError, match="not-a-scheme"):
        Neo4jStore("not-a-scheme://x")


def test_path_length_bound_is_validated() -> None:
    from kg import cypher

    assert "[r1, r2, r3]" in cypher.paths_from(3) and "r4" not in cypher.paths_from(3)
    for bad in (0, 7, "2", True):
        with pytest.raises(ValueError):
            cypher.paths_from(bad)  # type: ignore[arg-type]

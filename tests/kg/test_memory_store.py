"""MemoryStore on its own (no server): path semantics, persistence, hostile names."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from kg.errors import StoreError
from kg.memory_store import MemoryStore
from kg.types import Path as KgPath
from kg.types import Triple

FAMILY = [
    Triple("ann", "parent", "bob"),
    Triple("ann", "parent", "cat"),
    Triple("bob", "spouse", "dan"),
    Triple("cat", "spouse", "dan"),
    Triple("dan", "likes", "dan"),
]


@pytest.fixture
def family() -> MemoryStore:
    store = MemoryStore()
    store.add_triples(FAMILY)
    return store


def test_neighbors_include_inverse_steps_and_filter(family: MemoryStore) -> None:
    assert family.neighbors("bob") == [("parent_inv", "ann"), ("spouse", "dan")]
    assert family.neighbors("dan") == [
        ("likes", "dan"),
        ("likes_inv", "dan"),
        ("spouse_inv", "bob"),
        ("spouse_inv", "cat"),
    ]
    assert family.neighbors("dan", "spouse_inv") == [("spouse_inv", "bob"), ("spouse_inv", "cat")]
    assert family.neighbors("dan", "spouse") == []
    assert family.neighbors("nobody") == [] and family.neighbors("ann", "unknown_inv") == []


def test_paths_are_non_backtracking_walks_sorted_then_cut(family: MemoryStore) -> None:
    paths = family.paths_from(["bob"], 2, 100)
    assert paths == sorted(paths, key=KgPath.sort_key)
    assert KgPath(("bob", "ann", "cat"), ("parent_inv", "parent")) in paths
    assert KgPath(("bob", "ann", "bob"), ("parent_inv", "parent")) not in paths  # straight back
    assert KgPath(("bob", "dan", "dan"), ("spouse", "likes")) in paths
    assert KgPath(("bob", "dan", "dan"), ("spouse", "likes_inv")) in paths  # a self-loop, walked backwards
    assert family.paths_from(["bob"], 2, 3) == paths[:3]
    assert family.paths_from(["bob", "bob", "ghost"], 2, 100) == paths
    assert all(family.has_path(p) for p in paths)
    # a triple may come back once another step lies between (PathQuestion's spouse, spouse, spouse)
    again = KgPath(("bob", "dan", "dan", "bob"), ("spouse", "likes", "spouse_inv"))
    assert again in family.paths_from(["bob"], 3, 1000) and family.has_path(again)
    assert KgPath(("dan", "dan", "dan"), ("likes", "likes")) not in family.paths_from(["dan"], 2, 1000)


def test_shortest_paths_per_pair(family: MemoryStore) -> None:
    assert family.shortest_paths(["ann"], ["dan", "ann"], 3, 10) == [
        KgPath(("ann", "bob", "dan"), ("parent", "spouse")),
        KgPath(("ann", "cat", "dan"), ("parent", "spouse")),
    ]
    assert family.shortest_paths(["ann"], ["dan"], 1, 10) == []
    assert family.shortest_paths(["ann", "bob"], ["dan"], 3, 1) == [KgPath(("bob", "dan"), ("spouse",))]


def test_chain_paths_follow_exactly_the_chain(family: MemoryStore) -> None:
    chain = ("parent", "spouse")
    every = [p for p in family.paths_from(["ann"], 2, 1000) if p.relations == chain]
    assert family.chain_paths(["ann"], chain, 1000) == every
    assert [p.end for p in every] == ["dan", "dan"]  # via bob and via cat
    assert family.chain_paths(["ann"], chain, 1) == every[:1]
    # dan -likes-> dan: the next step may not walk that triple again, either way
    assert family.chain_paths(["dan"], ("likes", "likes_inv"), 10) == []
    back_home = family.chain_paths(["bob"], ("spouse", "likes", "spouse_inv"), 10)
    assert [p.end for p in back_home] == ["bob", "cat"]
    assert family.chain_paths(["nobody"], chain, 10) == []


def test_chain_paths_equal_filtered_paths_on_random_graphs() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    names = st.sampled_from(["a", "b", "c", "d"])
    relations = st.sampled_from(["r", "s", "r_inv", "s_inv"])

    @settings(max_examples=60, deadline=None)
    @given(
        triples=st.lists(
            st.builds(Triple, names, st.sampled_from(["r", "s"]), names), min_size=1, max_size=14
        ),
        chain=st.lists(relations, min_size=1, max_size=3),
        source=names,
    )
    def check(triples: list[Triple], chain: list[str], source: str) -> None:
        store = MemoryStore()
        store.add_triples(triples)
        expected = [p for p in store.paths_from([source], len(chain), 10**6) if p.relations == tuple(chain)]
        assert store.chain_paths([source], chain, 10**6) == expected

    check()


def test_has_path_rejects_backtracking_and_unknown(family: MemoryStore) -> None:
    assert family.has_path(KgPath(("ann", "bob", "dan"), ("parent", "spouse")))
    assert not family.has_path(KgPath(("ann", "bob", "ann"), ("parent", "parent_inv")))
    assert not family.has_path(KgPath(("ann", "bob"), ("unknown",)))
    assert not family.has_path(KgPath(("ann",), ()))


def test_save_and_reopen_keeps_hostile_names(tmp_path: Path) -> None:
    names = ["x'}) DETACH DELETE n //", "back`tick", "名前 😀", "$p ) }", 'q"uote']
    triples = [Triple(a, f"r {a}", b) for a, b in pairwise(names)]
    store = MemoryStore(tmp_path / "g.npz")
    assert store.add_triples(triples) == 4
    store.save()
    reopened = MemoryStore(tmp_path / "g.npz")
    assert list(reopened.iter_triples()) == triples
    assert reopened.stats() == store.stats()
    assert reopened.neighbors(names[1]) == store.neighbors(names[1])
    assert reopened.add_triples(triples) == 0


def test_unreadable_file_is_a_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "g.npz"
    bad.write_bytes(b"not a numpy file")
    with pytest.raises(StoreError, match="not a readable memory-store file"):
        MemoryStore(bad)


def test_clear_keeps_the_file(tmp_path: Path, family: MemoryStore) -> None:
    store = MemoryStore(tmp_path / "g.npz")
    store.add_triples(FAMILY)
    store.save()
    store.clear()
    store.save()
    assert MemoryStore(tmp_path / "g.npz").stats().triples == 0

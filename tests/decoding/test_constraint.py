"""Soundness, completeness, no dead ends and strategy agreement of the KG constraint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoding.constraint import ConstraintState, PathGrammar, initial_state
from decoding.index import KGIndex
from decoding.pathformat import PathCodec
from distill.student_init import train_tokenizer
from kg.errors import ConstraintError, InputError
from kg.memory_store import MemoryStore
from kg.types import Path as KgPath
from kg.types import Triple

from .helpers import check_complete, check_sound, random_walk_outputs

# names that share token prefixes on purpose ("a" / "ab" / "a b"), so trie nodes are both ends and inner
ENTITIES = ["a", "ab", "abc", "b", "ba", "a b", "c", "cab", "d e", "Ünï"]
RELATIONS = ["r", "rs", "s", "r s"]


@pytest.fixture(scope="module")
def small_codec(tmp_path_factory: pytest.TempPathFactory) -> PathCodec:
    names = ENTITIES + RELATIONS + [r + "_inv" for r in RELATIONS]
    return PathCodec(train_tokenizer(names * 3, tmp_path_factory.mktemp("tok"), vocab_size=300))


triples_strategy = st.lists(
    st.tuples(st.sampled_from(ENTITIES), st.sampled_from(RELATIONS), st.sampled_from(ENTITIES)),
    min_size=1,
    max_size=14,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(triples=triples_strategy, hops=st.integers(1, 3), pick=st.integers(0, 100), seed=st.integers(0, 10**6))
def test_random_graphs(
    small_codec: PathCodec, triples: list[tuple[str, str, str]], hops: int, pick: int, seed: int
) -> None:
    store = MemoryStore()
    store.add_triples(Triple(*t) for t in triples)
    index = KGIndex.build(store, small_codec)
    present = sorted({t[0] for t in triples} | {t[2] for t in triples})
    topics = [present[pick % len(present)]]
    n_paths = check_complete(index, store, topics, hops, "lazy")
    assert n_paths == check_complete(index, store, topics, hops, "materialized")
    outputs = random_walk_outputs(index, topics, hops, walks=8, seed=seed)
    for ids in outputs:
        check_sound(small_codec, store, topics, hops, ids)


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_pathquestion(
    pq_store: MemoryStore, pq_index: KGIndex, pq_questions: list[dict[str, object]], hops: int
) -> None:
    for i, q in enumerate(pq_questions):
        topics = [str(q["topic_entity"])]
        assert check_complete(pq_index, pq_store, topics, hops, "lazy") > 0
        for ids in random_walk_outputs(pq_index, topics, hops, walks=10, seed=i):
            check_sound(pq_index.codec, pq_store, topics, hops, ids)


def test_metaqa_cut(
    metaqa_store: MemoryStore, metaqa_index: KGIndex, metaqa_questions: list[dict[str, object]]
) -> None:
    for i, q in enumerate(metaqa_questions):
        topics = [str(q["topic_entity"])]
        for hops in (1, 3):
            assert check_complete(metaqa_index, metaqa_store, topics, hops, "lazy") > 0
            for ids in random_walk_outputs(metaqa_index, topics, hops, walks=10, seed=i):
                check_sound(metaqa_index.codec, metaqa_store, topics, hops, ids)


def test_two_topics_and_no_backtracking(small_codec: PathCodec) -> None:
    store = MemoryStore()
    store.add_triples([Triple("a", "r", "b"), Triple("c", "s", "b")])
    index = KGIndex.build(store, small_codec)
    # a -r-> b -r_inv-> a walks straight back over the one triple: not a path, so not allowed
    back = KgPath(("a", "b", "a"), ("r", "r_inv"))
    state = initial_state(index, ["a", "c"], 2)
    ids = small_codec.encode_output(back)
    ok = True
    for token in ids:
        nxt = state.advance(token)
        if nxt is None:
            ok = False
            break
        state = nxt
    assert not ok
    assert check_complete(index, store, ["a", "c"], 2, "lazy") == 4  # a-b, a-b-c, c-b, c-b-a


@pytest.mark.parametrize("strategy", ["lazy", "materialized"])
def test_a_triple_may_return_after_another_step(small_codec: PathCodec, strategy: str) -> None:
    # PathQuestion's "spouse's spouse's spouse": a -> b -> a -> b over (a,spouse,b), (b,spouse,a), again
    store = MemoryStore()
    store.add_triples([Triple("a", "spouse", "b"), Triple("b", "spouse", "a")])
    index = KGIndex.build(store, small_codec)
    walk = KgPath(("a", "b", "a", "b"), ("spouse", "spouse", "spouse"))
    state: ConstraintState | None = initial_state(index, ["a"], 3, strategy)  # type: ignore[arg-type]
    for token in small_codec.encode_output(walk):
        assert state is not None
        state = state.advance(token)
    assert state is not None and state.terminated
    # two first steps (spouse, spouse_inv), then one each: the other triple (the last one is barred)
    assert check_complete(index, store, ["a"], 3, strategy) == 2 + 2 + 2


def test_errors(small_codec: PathCodec) -> None:
    store = MemoryStore()
    store.add_triples([Triple("a", "r", "b")])
    index = KGIndex.build(store, small_codec)
    with pytest.raises(ConstraintError):
        initial_state(index, ["zzz"], 2)
    with pytest.raises(InputError):
        initial_state(index, ["a"], 0)
    with pytest.raises(InputError):
        initial_state(index, ["a"], 2, "bogus")  # type: ignore[arg-type]


def test_grammar_interface(
    pq_store: MemoryStore, pq_index: KGIndex, pq_questions: list[dict[str, object]]
) -> None:
    codec = pq_index.codec
    topic = str(pq_questions[0]["topic_entity"])
    path = pq_store.paths_from([topic], 2, 1)[0]
    ids = codec.encode_output(path)
    grammar = PathGrammar(initial_state(pq_index, [topic], 2))
    assert grammar.allowed_tokens().tolist() == [codec.start_id]
    assert not grammar.accept_tokens([codec.eos_id])  # rejected, nothing consumed
    assert grammar.num_accepted == 0
    assert grammar.accept_tokens(ids[:3])
    before = grammar.allowed_tokens().tolist()
    assert grammar.accept_tokens(ids[3:5])
    grammar.rollback(2)
    assert grammar.allowed_tokens().tolist() == before
    assert grammar.accept_tokens(ids[3:])
    assert grammar.is_terminated()
    mask = np.zeros((1, codec.vocab_size), dtype=bool)
    grammar.fill_bitmask(mask)
    assert mask.sum() == 1 and mask[0, codec.eos_id]
    grammar.reset()
    assert grammar.num_accepted == 0 and not grammar.is_terminated()
    with pytest.raises(ConstraintError):
        grammar.rollback(1)


def test_student_dir_is_a_model(student_dir: Path) -> None:
    assert (student_dir / "config.json").exists()

"""Per-sequence KG constraint states: which token may come next so the output spells a KG path.

The accepted language is exactly ``<PATH> e0 -> r1 -> e1 ... -> eH </PATH> answer EOS`` for every
non-backtracking walk of 1..H steps from a topic entity (``kg.store`` semantics), with ``answer`` = the
path's end entity. There is no unconstrained fallback and no dead end: a relation is offered only if a
triple other than the one just walked continues it, ``->`` only if such a step out of the entity is left
and hops remain, ``</PATH>`` after any complete entity of hop >= 1. After EOS only EOS is allowed (a
finished row stays finished).

States are immutable (``advance`` returns a new state), so beams fork for free. Two strategies:
``LazyState`` walks the per-KG ``KGIndex`` step by step; ``MaterializedState`` walks a per-question trie
of every enumerated path (GCR-style). They allow the same token sets at every step (property-tested).
``PathGrammar`` wraps either in the mutable accept/rollback/bitmask interface of vLLM's grammars.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np

from decoding.index import NO_EDGE, KGIndex
from decoding.trie import IntArray, TokenTrie
from kg.errors import ConstraintError, InputError

Strategy = Literal["lazy", "materialized"]
_EMPTY: IntArray = np.zeros(0, dtype=np.int64)


def _tokens(*ids: int) -> IntArray:
    return np.array(sorted(ids), dtype=np.int64)


def topic_ids(index: KGIndex, topics: Iterable[str], max_hops: int) -> list[int]:
    """KG ids of the topics that start at least one path; raises if none does."""
    if max_hops < 1:
        raise InputError(f"max_hops must be >= 1, got {max_hops}")
    ids = [index.entity_ids[t] for t in dict.fromkeys(topics) if t in index.entity_ids]
    ids = [i for i in ids if index.degree[i] > 0]
    if not ids:
        raise ConstraintError(f"no topic entity among {list(topics)!r} starts a path in the KG")
    return ids


class ConstraintState:
    """One position of one sequence; subclasses implement the two strategies."""

    __slots__ = ()
    terminated = False

    def allowed(self) -> IntArray:
        raise NotImplementedError

    def advance(self, token: int) -> ConstraintState | None:
        """The state after ``token``, or None if it is not allowed here."""
        raise NotImplementedError


# ---- lazy graph walk ---------------------------------------------------------------------------
class _Lazy(ConstraintState):
    __slots__ = ("_allowed", "barred", "hops", "index", "max_hops")

    def __init__(self, index: KGIndex, max_hops: int, hops: int, barred: int) -> None:
        # barred: the edge id of the triple the last step walked (the next step may not walk it), or NO_EDGE
        self.index, self.max_hops, self.hops, self.barred = index, max_hops, hops, barred
        self._allowed: IntArray | None = None

    def allowed(self) -> IntArray:
        if self._allowed is None:
            self._allowed = self._compute()
        return self._allowed

    def _compute(self) -> IntArray:
        raise NotImplementedError


class LazyStart(_Lazy):
    """Before ``<PATH>``."""

    __slots__ = ("topic_ranks",)

    def __init__(self, index: KGIndex, topics: Sequence[str], max_hops: int) -> None:
        super().__init__(index, max_hops, 0, NO_EDGE)
        self.topic_ranks = index.entities.ranks(topic_ids(index, topics, max_hops))

    def _compute(self) -> IntArray:
        return _tokens(self.index.codec.start_id)

    def advance(self, token: int) -> ConstraintState | None:
        if token != self.index.codec.start_id:
            return None
        n = len(self.index.entities)
        key = ("topics", *self.topic_ranks.tolist())
        return LazyEntity(self.index, self.max_hops, 0, NO_EDGE, -1, -1, self.topic_ranks, (), 0, n, 0, key)


class LazyEntity(_Lazy):
    """Inside (or right after) an entity name: hop ``hops`` reached via ``prev -rel->``.

    ``key`` names the candidate set (``(prev, rel)``, or the topics at hop 0) so the per-node options
    are memoised in the index's name table and shared by every beam at the same place.
    """

    __slots__ = ("cand", "complete", "depth", "excl", "flags", "hi", "key", "lo", "prev", "rel", "tokens")

    def __init__(
        self,
        index: KGIndex,
        max_hops: int,
        hops: int,
        barred: int,
        prev: int,
        rel: int,
        cand: IntArray,
        excl: tuple[int, ...],
        lo: int,
        hi: int,
        depth: int,
        key: object,
    ) -> None:
        super().__init__(index, max_hops, hops, barred)
        self.prev, self.rel, self.cand, self.excl, self.key = prev, rel, cand, excl, key
        self.lo, self.hi, self.depth = lo, hi, depth
        self.flags = 0  # bit 1: "->" allowed, bit 2: "</PATH>" allowed (set by _compute)
        table = index.entities
        if excl and any(lo <= x < hi for x in excl):
            # a neighbour reached only back over the triple just walked: compute without it
            self.tokens, self.complete = table.options(cand[~np.isin(cand, excl)], lo, hi, depth)
        else:
            self.tokens, self.complete = table.cached_options(key, cand, lo, hi, depth)

    def _entity_and_barred(self) -> tuple[int, int]:
        entity = int(self.index.entities.id_of_rank[self.complete])
        if self.prev < 0:
            return entity, self.barred
        return entity, self.index.edge_of_step(self.prev, self.rel, entity)

    def _compute(self) -> IntArray:
        if self.complete < 0:
            return self.tokens
        codec, extra = self.index.codec, []
        entity, barred = self._entity_and_barred()
        if self.hops < self.max_hops and self.index.has_open_step(entity, barred):
            extra.append(codec.sep_id)
            self.flags |= 1
        if self.hops >= 1:
            extra.append(codec.end_id)
            self.flags |= 2
        return np.concatenate([self.tokens, _tokens(*extra)]) if extra else self.tokens

    def advance(self, token: int) -> ConstraintState | None:
        index, codec = self.index, self.index.codec
        if token == codec.sep_id or token == codec.end_id:
            self.allowed()
            if token == codec.sep_id and self.flags & 1:
                entity, barred = self._entity_and_barred()
                n = len(index.relations)
                cand = index.open_relations(entity, barred)
                return LazyRelation(index, self.max_hops, self.hops, barred, entity, cand, 0, n, 0)
            if token == codec.end_id and self.flags & 2:
                return LazyAnswer(index, tuple(index.entities.name_tokens(self.complete).tolist()), 0)
            return None
        lo, hi = index.entities.child(self.lo, self.hi, self.depth, token)
        if lo >= hi:
            return None
        nxt = LazyEntity(
            index, self.max_hops, self.hops, self.barred, self.prev, self.rel,
            self.cand, self.excl, lo, hi, self.depth + 1, self.key,
        )  # fmt: skip
        return nxt if len(nxt.tokens) or nxt.complete >= 0 else None


class LazyRelation(_Lazy):
    """Inside (or right after) the relation name of step ``hops + 1`` out of ``entity``."""

    __slots__ = ("cand", "complete", "depth", "entity", "hi", "lo", "tokens")

    def __init__(
        self,
        index: KGIndex,
        max_hops: int,
        hops: int,
        barred: int,
        entity: int,
        cand: IntArray,
        lo: int,
        hi: int,
        depth: int,
    ) -> None:
        super().__init__(index, max_hops, hops, barred)
        self.entity, self.cand, self.lo, self.hi, self.depth = entity, cand, lo, hi, depth
        self.tokens, self.complete = index.relations.options(cand, lo, hi, depth)

    def _compute(self) -> IntArray:
        if self.complete < 0:
            return self.tokens
        return np.concatenate([self.tokens, _tokens(self.index.codec.sep_id)])

    def advance(self, token: int) -> ConstraintState | None:
        index = self.index
        if token == index.codec.sep_id:
            if self.complete < 0:
                return None
            rel = int(index.relations.id_of_rank[self.complete])
            cand = index.neighbours(self.entity, rel)
            excl = index.excluded_neighbours(self.entity, rel, self.barred)
            n = len(index.entities)
            return LazyEntity(
                index, self.max_hops, self.hops + 1, self.barred, self.entity, rel, cand, excl, 0, n, 0,
                (self.entity, rel),
            )  # fmt: skip
        lo, hi = index.relations.child(self.lo, self.hi, self.depth, token)
        if lo >= hi:
            return None
        nxt = LazyRelation(
            index, self.max_hops, self.hops, self.barred, self.entity, self.cand, lo, hi, self.depth + 1
        )
        return nxt if len(nxt.tokens) or nxt.complete >= 0 else None


class LazyAnswer(ConstraintState):
    """After ``</PATH>``: the end entity's name is forced, then EOS."""

    __slots__ = ("index", "name", "pos")

    def __init__(self, index: KGIndex, name: tuple[int, ...], pos: int) -> None:
        self.index, self.name, self.pos = index, name, pos

    @property
    def terminated(self) -> bool:  # type: ignore[override]
        return self.pos > len(self.name)

    def allowed(self) -> IntArray:
        return _tokens(self.name[self.pos] if self.pos < len(self.name) else self.index.codec.eos_id)

    def advance(self, token: int) -> ConstraintState | None:
        if token != int(self.allowed()[0]):
            return None
        return LazyAnswer(self.index, self.name, min(self.pos + 1, len(self.name) + 1))


# ---- materialized per-question trie -------------------------------------------------------------
def materialize(index: KGIndex, topics: Sequence[str], max_hops: int) -> TokenTrie:
    """A trie of the full output ids of every path of 1..max_hops steps from the topics."""
    codec, ents, rels = index.codec, index.entities, index.relations
    ent_tokens = _token_memo(ents)
    rel_tokens = _token_memo(rels)
    trie = TokenTrie()
    for path_ents, path_rels in index.graph.walks(topic_ids(index, topics, max_hops), max_hops):
        ids = [codec.start_id, *ent_tokens(path_ents[0])]
        for r, e in zip(path_rels, path_ents[1:], strict=True):
            ids += [codec.sep_id, *rel_tokens(r), codec.sep_id, *ent_tokens(e)]
        ids += [codec.end_id, *ent_tokens(path_ents[-1]), codec.eos_id]
        trie.insert(ids)
    return trie


def _token_memo(table: Any) -> Any:
    """A per-call memo of name id -> token list (materialization touches each name many times)."""
    memo: dict[int, list[int]] = {}

    def tokens(name_id: int) -> list[int]:
        got = memo.get(name_id)
        if got is None:
            got = memo[name_id] = table.name_tokens(int(table.rank_of_id[name_id])).tolist()
        return got

    return tokens


class MaterializedState(ConstraintState):
    __slots__ = ("eos", "node")

    def __init__(self, node: dict[int, Any], eos: int) -> None:
        self.node, self.eos = node, eos

    @property
    def terminated(self) -> bool:  # type: ignore[override]
        return not self.node

    def allowed(self) -> IntArray:
        if not self.node:
            return _tokens(self.eos)
        return np.array(sorted(self.node), dtype=np.int64)

    def advance(self, token: int) -> ConstraintState | None:
        if not self.node:
            return self if token == self.eos else None
        nxt = self.node.get(token)
        return None if nxt is None else MaterializedState(nxt, self.eos)


def initial_state(
    index: KGIndex, topics: Sequence[str], max_hops: int, strategy: Strategy = "lazy"
) -> ConstraintState:
    """The state before ``<PATH>`` for one question."""
    if strategy == "lazy":
        return LazyStart(index, topics, max_hops)
    if strategy == "materialized":
        return MaterializedState(materialize(index, topics, max_hops).root, index.codec.eos_id)
    raise InputError(f"unknown decoding strategy {strategy!r}")


class PathGrammar:
    """vLLM-grammar-shaped mutable wrapper: accept tokens, report the mask, roll back, reset."""

    def __init__(self, initial: ConstraintState) -> None:
        self._initial = initial
        self._states: list[ConstraintState] = [initial]

    @property
    def state(self) -> ConstraintState:
        return self._states[-1]

    def accept_tokens(self, ids: Iterable[int]) -> bool:
        """Advance over ``ids``; on a disallowed token nothing is accepted and False is returned."""
        new: list[ConstraintState] = []
        state = self.state
        for token in ids:
            nxt = state.advance(int(token))
            if nxt is None:
                return False
            new.append(nxt)
            state = nxt
        self._states.extend(new)
        return True

    def allowed_tokens(self) -> IntArray:
        return self.state.allowed()

    def fill_bitmask(self, mask: Any, row: int = 0) -> None:
        """Set ``mask[row, t] = True`` for every allowed token (a bool tensor or array)."""
        mask[row, self.state.allowed()] = True

    def rollback(self, n: int) -> None:
        if n > len(self._states) - 1:
            raise ConstraintError(f"cannot roll back {n} tokens, only {len(self._states) - 1} accepted")
        if n:
            del self._states[-n:]

    def is_terminated(self) -> bool:
        return self.state.terminated

    def reset(self) -> None:
        self._states = [self._initial]

    @property
    def num_accepted(self) -> int:
        return len(self._states) - 1

"""The per-KG decoding index: name tables and walk adjacency, built once per graph (memory O(KG)).

Everything a lazy constraint state asks at one decoding step is answered here from precomputed arrays
and small LRU caches keyed by entity (and step relation), so the cost of a step does not depend on how
many paths the question has.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from decoding.pathformat import PathCodec
from decoding.trie import IntArray, NameTable
from kg.errors import ConfigError
from kg.memory_store import MemoryStore
from kg.store import GraphStore
from kg.walkgraph import WalkGraph

CACHE_SIZE = 200_000
NO_EDGE = -1  # "no triple barred": the first step of a path


def _walk_graph(store: GraphStore) -> tuple[WalkGraph, dict[str, int]]:
    if not isinstance(store, MemoryStore):
        # another backend (Neo4j): stream its triples once into an in-process CSR
        copy = MemoryStore()
        copy.add_triples(store.iter_triples())
        store = copy
    return store.walk_graph, store.entity_ids


def _batch_name_ids(codec: PathCodec, names: Sequence[str]) -> list[tuple[int, ...]]:
    """``codec.name_ids`` for many names in one tokenizer call (same encoding, checked the same way)."""
    out: list[tuple[int, ...]] = []
    chunk = 4096
    for i in range(0, len(names), chunk):
        part = list(names[i : i + chunk])
        encoded = codec.tokenizer(part, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        for name, ids in zip(part, encoded, strict=True):
            ids = tuple(int(t) for t in ids)
            if not ids or codec.special_ids.intersection(ids):
                raise ConfigError(f"name {name!r} does not encode to plain tokens")
            out.append(ids)
    return out


class KGIndex:
    """Name tables for entities and step relations plus the CSR walk graph of one KG."""

    def __init__(self, graph: WalkGraph, entity_ids: dict[str, int], codec: PathCodec) -> None:
        self.graph, self.entity_ids, self.codec = graph, entity_ids, codec
        n_rel = graph.num_stored_relations
        self.step_relation_names = [graph.step_relation_name(r) for r in range(2 * n_rel)]
        self.entities = NameTable(_batch_name_ids(codec, list(graph.entity_names)))
        self.relations = NameTable(_batch_name_ids(codec, self.step_relation_names))
        self.degree: IntArray = np.diff(graph.ptr)
        # per stored triple (edge): its head and tail, recovered from the forward steps
        n_edges = len(graph.step_edge) // 2
        src = np.repeat(np.arange(len(graph.entity_names), dtype=np.int64), self.degree)
        forward = graph.step_rel < n_rel
        self.edge_head = np.empty(n_edges, dtype=np.int64)
        self.edge_tail = np.empty(n_edges, dtype=np.int64)
        self.edge_rel = np.empty(n_edges, dtype=np.int64)
        self.edge_head[graph.step_edge[forward]] = src[forward]
        self.edge_tail[graph.step_edge[forward]] = graph.step_dst[forward]
        self.edge_rel[graph.step_edge[forward]] = graph.step_rel[forward]
        self.relations_of = lru_cache(maxsize=CACHE_SIZE)(self._relations_of)
        self.neighbours = lru_cache(maxsize=CACHE_SIZE)(self._neighbours)

    @classmethod
    def build(cls, store: GraphStore, codec: PathCodec) -> KGIndex:
        graph, entity_ids = _walk_graph(store)
        return cls(graph, entity_ids, codec)

    @property
    def num_stored_relations(self) -> int:
        return self.graph.num_stored_relations

    def output_bound(self, max_hops: int) -> int:
        """Most tokens a constrained output can take: ``<PATH>``, H steps, ``</PATH>``, answer, EOS."""
        ent, rel = self.entities.matrix.shape[1], self.relations.matrix.shape[1]
        return 1 + ent + max_hops * (2 + rel + ent) + 1 + ent + 1

    def entity_name(self, entity: int) -> str:
        return str(self.graph.entity_names[entity])

    # ---- cached adjacency questions ----------------------------------------------------------
    def _relations_of(self, entity: int) -> tuple[IntArray, IntArray]:
        """Step relations leaving ``entity`` (ids, sorted) and how many steps each has."""
        rels = self.graph.steps(entity)[0]
        ids, counts = np.unique(rels, return_counts=True)
        return ids, counts

    def _neighbours(self, entity: int, step_rel: int) -> IntArray:
        """Sorted name ranks of the entities one ``step_rel`` step from ``entity``."""
        lo, hi = int(self.graph.ptr[entity]), int(self.graph.ptr[entity + 1])
        rels = self.graph.step_rel[lo:hi]
        a, b = np.searchsorted(rels, (step_rel, step_rel + 1))
        dsts = self.graph.step_dst[lo + a : lo + b]
        return np.sort(self.entities.rank_of_id[dsts])  # dsts are unique per (entity, relation)

    # ---- backtrack bookkeeping (a step may not walk back over the triple the last step walked) --
    def step_of_edge(self, entity: int, edge: int) -> list[tuple[int, int]]:
        """The ``(step relation, destination)`` steps out of ``entity`` that use ``edge``."""
        h, t, r = int(self.edge_head[edge]), int(self.edge_tail[edge]), int(self.edge_rel[edge])
        out = []
        if h == entity:
            out.append((r, t))
        if t == entity:
            out.append((r + self.num_stored_relations, h))
        return out

    def edge_of_step(self, entity: int, step_rel: int, dst: int) -> int:
        n_rel = self.num_stored_relations
        lo, hi = int(self.graph.ptr[entity]), int(self.graph.ptr[entity + 1])
        rels, dsts = self.graph.step_rel[lo:hi], self.graph.step_dst[lo:hi]
        a, b = np.searchsorted(rels, (step_rel, step_rel + 1))
        i = a + int(np.searchsorted(dsts[a:b], dst))
        if i >= b or int(dsts[i]) != dst:
            raise ConfigError(f"no step {entity} -{step_rel}-> {dst} ({n_rel} stored relations)")
        return int(self.graph.step_edge[lo + i])

    def open_relations(self, entity: int, barred: int) -> IntArray:
        """Sorted relation-table ranks of the step relations out of ``entity`` over a triple other than
        ``barred`` (an edge id, or ``NO_EDGE``)."""
        ids, counts = self.relations_of(entity)
        spent = [rel for rel, _ in self.step_of_edge(entity, barred)] if barred != NO_EDGE else []
        if spent:
            keep = [
                i
                for i, (r, c) in enumerate(zip(ids.tolist(), counts.tolist(), strict=True))
                if c > spent.count(r)
            ]
            ids = ids[keep]
        return np.sort(self.relations.rank_of_id[ids])

    def has_open_step(self, entity: int, barred: int) -> bool:
        spent = len(self.step_of_edge(entity, barred)) if barred != NO_EDGE else 0
        return int(self.degree[entity]) > spent

    def excluded_neighbours(self, entity: int, step_rel: int, barred: int) -> tuple[int, ...]:
        """Name ranks of the ``step_rel`` neighbours of ``entity`` reachable only over ``barred``."""
        if barred == NO_EDGE:
            return ()
        steps = self.step_of_edge(entity, barred)
        return tuple(int(self.entities.rank_of_id[dst]) for rel, dst in steps if rel == step_rel)

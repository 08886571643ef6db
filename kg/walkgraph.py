"""Compressed adjacency (CSR) over walk steps: every triple forwards and backwards.

Built once from the triples of any store; the in-process store answers path queries from it and the
lazy decoding automaton walks it, so its memory is O(KG) and a step lookup is two array reads.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kg.naming import INVERSE_SUFFIX

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class WalkGraph:
    """Steps out of each entity, grouped by step relation then destination.

    Step relation ``r < R`` walks stored relation ``r`` forwards, ``R + r`` walks it backwards.
    ``step_edge`` is the index of the stored triple a step uses (for the no-triple-twice rule).
    """

    entity_names: Sequence[str]
    relation_names: Sequence[str]  # stored (forward) relations, R of them
    ptr: IntArray  # len = entities + 1
    step_rel: IntArray
    step_dst: IntArray
    step_edge: IntArray

    @classmethod
    def build(
        cls,
        entity_names: Sequence[str],
        relation_names: Sequence[str],
        heads: IntArray,
        rels: IntArray,
        tails: IntArray,
    ) -> WalkGraph:
        n, n_rel, m = len(entity_names), len(relation_names), len(heads)
        edge = np.arange(m, dtype=np.int64)
        src = np.concatenate([heads, tails]).astype(np.int64)
        rel = np.concatenate([rels, rels + n_rel]).astype(np.int64)
        dst = np.concatenate([tails, heads]).astype(np.int64)
        edges = np.concatenate([edge, edge])
        order = np.lexsort((dst, rel, src))
        counts = np.bincount(src, minlength=n)
        ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        return cls(entity_names, relation_names, ptr, rel[order], dst[order], edges[order])

    @property
    def num_stored_relations(self) -> int:
        return len(self.relation_names)

    def step_relation_name(self, step_rel: int) -> str:
        r = len(self.relation_names)
        return (
            self.relation_names[step_rel]
            if step_rel < r
            else self.relation_names[step_rel - r] + INVERSE_SUFFIX
        )

    def step_relation_id(self, name: str, relation_ids: dict[str, int]) -> int | None:
        """Step relation id of a (possibly ``_inv``) relation name, or None if unknown."""
        if name in relation_ids:
            return relation_ids[name]
        if name.endswith(INVERSE_SUFFIX):
            base = relation_ids.get(name[: -len(INVERSE_SUFFIX)])
            if base is not None:
                return base + len(self.relation_names)
        return None

    def steps(self, entity: int) -> tuple[IntArray, IntArray, IntArray]:
        lo, hi = int(self.ptr[entity]), int(self.ptr[entity + 1])
        return self.step_rel[lo:hi], self.step_dst[lo:hi], self.step_edge[lo:hi]

    def walks(self, sources: Sequence[int], max_hops: int) -> Iterator[tuple[list[int], list[int]]]:
        """Every non-backtracking walk of 1..max_hops steps from ``sources`` as ``(entity ids, step
        relation ids)``: no step walks the triple the step before it walked (``kg.store`` semantics)."""
        ptr, srel, sdst, sedge = self.ptr, self.step_rel, self.step_dst, self.step_edge
        for source in dict.fromkeys(sources):
            ents: list[int] = [source]
            rels: list[int] = []
            edges: list[int] = []
            # iterative DFS; stack holds (next step index, end index) per depth
            stack = [(int(ptr[source]), int(ptr[source + 1]))]
            while stack:
                i, end = stack[-1]
                if i >= end:
                    stack.pop()
                    if rels:
                        ents.pop(), rels.pop(), edges.pop()
                    continue
                stack[-1] = (i + 1, end)
                e = int(sedge[i])
                if edges and e == edges[-1]:
                    continue
                dst = int(sdst[i])
                ents.append(dst)
                rels.append(int(srel[i]))
                edges.append(e)
                yield list(ents), list(rels)
                if len(rels) < max_hops:
                    stack.append((int(ptr[dst]), int(ptr[dst + 1])))
                else:
                    ents.pop(), rels.pop(), edges.pop()

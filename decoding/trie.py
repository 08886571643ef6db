"""Token-id tries: a sorted name table for the lazy automaton and a dict trie for materialized paths.

``NameTable`` stores every name's token ids as one row of a matrix sorted lexicographically, so a trie
node (a token prefix) is a contiguous row interval and "which names are valid here" is a sorted array of
row ranks: the allowed next tokens of a node restricted to a candidate set are found with two binary
searches and one pass over the candidates inside the interval, whatever the number of paths.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
END = -1  # padding after a name's last token; sorts before every real token id
MEMO_SIZE = 500_000


class NameTable:
    """Names (by dense id) as rows of a lexicographically sorted token matrix."""

    def __init__(self, token_ids: Sequence[Sequence[int]]) -> None:
        n = len(token_ids)
        width = max((len(t) for t in token_ids), default=0) + 1  # +1: every row ends with END
        matrix = np.full((n, width), END, dtype=np.int64)
        for i, ids in enumerate(token_ids):
            matrix[i, : len(ids)] = ids
        # np.lexsort sorts by the last key first: feed columns right to left
        order = np.lexsort(matrix.T[::-1]) if n else np.zeros(0, dtype=np.int64)
        self.matrix = matrix[order]  # row = rank
        self.id_of_rank: IntArray = order.astype(np.int64)
        self.rank_of_id: IntArray = np.empty(n, dtype=np.int64)
        self.rank_of_id[order] = np.arange(n, dtype=np.int64)
        self.lengths: IntArray = (self.matrix != END).sum(axis=1)
        # memo tables shared by all beams and questions (bounded: cleared when full)
        self._child: dict[tuple[int, int, int, int], tuple[int, int]] = {}
        self._options: dict[tuple[object, int, int, int], tuple[IntArray, int]] = {}

    def __len__(self) -> int:
        return len(self.id_of_rank)

    def ranks(self, ids: Iterable[int]) -> IntArray:
        """Sorted unique ranks of the given name ids (a candidate set)."""
        return np.unique(self.rank_of_id[np.fromiter(ids, dtype=np.int64)])

    def child(self, lo: int, hi: int, depth: int, token: int) -> tuple[int, int]:
        """The interval of rows below ``[lo, hi)`` whose token at ``depth`` is ``token`` (memoised)."""
        key = (lo, hi, depth, token)
        got = self._child.get(key)
        if got is None:
            if hi - lo == 1:
                got = (lo, hi) if int(self.matrix[lo, depth]) == token else (lo, lo)
            else:
                column = self.matrix[lo:hi, depth]
                a, b = column.searchsorted((token, token + 1))
                got = (lo + int(a), lo + int(b))
            if len(self._child) >= MEMO_SIZE:
                self._child.clear()
            self._child[key] = got
        return got

    def cached_options(
        self, key: object, candidates: IntArray, lo: int, hi: int, depth: int
    ) -> tuple[IntArray, int]:
        """``options`` memoised under ``key``, which must identify the candidate set."""
        memo_key = (key, lo, hi, depth)
        got = self._options.get(memo_key)
        if got is None:
            got = self.options(candidates, lo, hi, depth)
            if len(self._options) >= MEMO_SIZE:
                self._options.clear()
            self._options[memo_key] = got
        return got

    def options(self, candidates: IntArray, lo: int, hi: int, depth: int) -> tuple[IntArray, int]:
        """Next tokens of the candidates inside ``[lo, hi)`` and the rank of a name ending here (or -1).

        ``candidates`` must be sorted; the result tokens are sorted and unique.
        """
        a, b = np.searchsorted(candidates, (lo, hi))
        inside = candidates[a:b]
        if not len(inside):
            return np.zeros(0, dtype=np.int64), -1
        column = self.matrix[inside, depth]  # sorted: rows share the prefix, so column order is rank order
        complete = int(inside[0]) if column[0] == END else -1
        if complete >= 0:
            column = column[1:]
        if len(column) > 1:
            keep = np.empty(len(column), dtype=bool)
            keep[0] = True
            np.not_equal(column[1:], column[:-1], out=keep[1:])
            column = column[keep]
        return column, complete

    def name_tokens(self, rank: int) -> IntArray:
        return self.matrix[rank, : self.lengths[rank]]


class TokenTrie:
    """A plain token trie of whole sequences (dict of dicts), for materialized per-question paths."""

    __slots__ = ("root", "size")

    def __init__(self) -> None:
        self.root: dict[int, Any] = {}
        self.size = 0

    def insert(self, ids: Iterable[int]) -> None:
        node = self.root
        for i in ids:
            nxt = node.get(i)
            if nxt is None:
                nxt = node[i] = {}
                self.size += 1
            node = nxt

"""A faithful re-implementation of GCR's KG-Trie (Luo et al., 2024), used only as a benchmark baseline.

GCR, per question: enumerate every path from the topic entities by depth-first search (no visited set),
write each as a path string, tokenize every string, and put the token-id sequences into a ``marisa_trie``
keyed by mapping each token id to one unicode character. At each decoding step the allowed tokens are
found by listing EVERY key under the current prefix and collecting the next character of each, so a
step costs O(number of paths below the prefix). (GCR also falls back to allowing every token when the
lookup is empty; that fallback is irrelevant for timing and deliberately not reproduced.)
"""

from __future__ import annotations

from collections.abc import Sequence

import marisa_trie

from decoding.index import NO_EDGE, KGIndex
from decoding.pathformat import PATH_END, PATH_START, SEPARATOR

# token id -> character; skips the surrogate block, which marisa (UTF-8 keys) cannot store
_SURROGATES = range(0xD800, 0xE000)


def _char(token: int) -> str:
    return chr(token + len(_SURROGATES)) if token >= _SURROGATES.start else chr(token)


def _token(char: str) -> int:
    code = ord(char)
    return code - len(_SURROGATES) if code >= _SURROGATES.stop else code


def enumerate_path_strings(index: KGIndex, topics: Sequence[str], max_hops: int) -> list[str]:
    """DFS from each topic over forward and inverse steps (non-backtracking, as the store's semantics)."""
    graph = index.graph
    names = graph.entity_names
    rel_names = index.step_relation_names
    out: list[str] = []

    def visit(entity: int, text: str, last_edge: int, depth: int) -> None:
        rels, dsts, edges = graph.steps(entity)
        for r, d, e in zip(rels.tolist(), dsts.tolist(), edges.tolist(), strict=True):
            if e == last_edge:
                continue
            step_text = f"{text}{SEPARATOR}{rel_names[r]}{SEPARATOR}{names[d]}"
            out.append(f"{PATH_START}{step_text}{PATH_END}")
            if depth + 1 < max_hops:
                visit(d, step_text, e, depth + 1)

    for topic in dict.fromkeys(topics):
        if topic in index.entity_ids:
            visit(index.entity_ids[topic], topic, NO_EDGE, 0)
    return out


class GcrTrie:
    """GCR's ``MarisaTrie``: token-id sequences as unicode strings; ``get`` lists keys under a prefix."""

    def __init__(self, sequences: Sequence[Sequence[int]]) -> None:
        self.trie = marisa_trie.Trie(["".join(_char(t) for t in seq) for seq in sequences])

    @classmethod
    def build(cls, index: KGIndex, topics: Sequence[str], max_hops: int) -> GcrTrie:
        strings = enumerate_path_strings(index, topics, max_hops)
        tokenizer = index.codec.tokenizer
        ids = tokenizer(strings, add_special_tokens=False)["input_ids"] if strings else []
        return cls(ids)

    def __len__(self) -> int:
        return len(self.trie)

    def get(self, prefix: Sequence[int]) -> list[int]:
        key = "".join(_char(t) for t in prefix)
        n = len(key)
        return list({_token(k[n]) for k in self.trie.keys(key) if len(k) > n})

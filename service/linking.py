"""Entity linking: which KG entities does a question mention?

In order of trust: MetaQA-style ``[bracketed]`` mentions; exact names; normalized names (case,
underscores and punctuation ignored) over word n-grams of the question; and, only when nothing matched,
fuzzy matches (bounded edit distance) against candidates found through a marisa-trie prefix index of the
normalized names. Longer mentions win over mentions they contain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import marisa_trie

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_BRACKETS = re.compile(r"\[([^\[\]]{1,300})\]")
MAX_SPAN_WORDS = 10
MIN_FUZZY_CHARS = 5
FUZZY_PREFIX_CHARS = 3
MAX_FUZZY_CANDIDATES = 300
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "is",
        "are",
        "was",
        "were",
        "be",
        "by",
        "for",
        "from",
        "with",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "where",
        "when",
        "how",
        "s",
        "it",
        "its",
        "this",
        "that",
        "and",
        "or",
        "as",
        "do",
        "does",
        "did",
    ]
)


def normalize(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def edit_distance(a: str, b: str, bound: int) -> int:
    """Levenshtein distance, or ``bound + 1`` as soon as it must exceed ``bound``."""
    if abs(len(a) - len(b)) > bound:
        return bound + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        if min(cur) > bound:
            return bound + 1
        prev = cur
    return prev[-1]


@dataclass(frozen=True)
class EntityLink:
    entity: str
    mention: str
    method: str  # bracket | exact | normalized | fuzzy
    score: float

    def to_json(self) -> dict[str, object]:
        return {"entity": self.entity, "mention": self.mention, "method": self.method, "score": self.score}


class EntityLinker:
    """Built once per graph snapshot from its entity names."""

    def __init__(self, names: Iterable[str]) -> None:
        self._exact: set[str] = set()
        self._by_norm: dict[str, list[str]] = {}
        for name in names:
            self._exact.add(name)
            key = normalize(name)
            if key:
                self._by_norm.setdefault(key, []).append(name)
        for candidates in self._by_norm.values():
            candidates.sort()
        self._trie = marisa_trie.Trie(self._by_norm.keys())

    def __len__(self) -> int:
        return len(self._exact)

    def _lookup(self, mention: str, allow_fuzzy: bool) -> EntityLink | None:
        if mention in self._exact:
            return EntityLink(mention, mention, "exact", 1.0)
        key = normalize(mention)
        if key in self._by_norm:
            return EntityLink(self._by_norm[key][0], mention, "normalized", 0.9)
        return self._fuzzy(mention, key) if allow_fuzzy else None

    def _fuzzy(self, mention: str, key: str) -> EntityLink | None:
        if len(key) < MIN_FUZZY_CHARS:
            return None
        bound = max(1, len(key) // 6)
        best: tuple[int, str] | None = None
        for candidate in self._trie.keys(key[:FUZZY_PREFIX_CHARS])[:MAX_FUZZY_CANDIDATES]:
            d = edit_distance(key, candidate, bound)
            if d <= bound and (best is None or (d, candidate) < best):
                best = (d, candidate)
        if best is None:
            return None
        d, candidate = best
        return EntityLink(self._by_norm[candidate][0], mention, "fuzzy", round(0.8 * (1 - d / len(key)), 4))

    def link(self, question: str, limit: int = 5) -> list[EntityLink]:
        bracketed = [m.strip() for m in _BRACKETS.findall(question)]
        if bracketed:
            found = [link for m in bracketed if (link := self._lookup(m, allow_fuzzy=True)) is not None]
            if found:
                return _dedupe(found)[:limit]
        links = self._spans(question, fuzzy=False) or self._spans(question, fuzzy=True)
        return _dedupe(links)[:limit]

    def _spans(self, question: str, fuzzy: bool) -> list[EntityLink]:
        words = question.split()
        taken = [False] * len(words)
        links: list[EntityLink] = []
        for size in range(min(MAX_SPAN_WORDS, len(words)), 0, -1):
            for start in range(len(words) - size + 1):
                if any(taken[start : start + size]):
                    continue
                span = " ".join(words[start : start + size])
                if normalize(span) in _STOPWORDS or not normalize(span):
                    continue
                link = self._lookup(span, allow_fuzzy=fuzzy) or self._lookup(span.strip("?.,!'\""), fuzzy)
                if link is not None:
                    links.append(link)
                    taken[start : start + size] = [True] * size
        return links


def _dedupe(links: list[EntityLink]) -> list[EntityLink]:
    best: dict[str, EntityLink] = {}
    for link in links:
        if link.entity not in best or link.score > best[link.entity].score:
            best[link.entity] = link
    return sorted(best.values(), key=lambda x: -x.score)

"""Verify traces against the KG: every cited path must exist, the answer must match the gold answers.

A cited path that is not in the KG is repaired when exactly one KG path fits a small edit of it (a
relation walked the wrong way, ``r`` vs ``r_inv``; an entity name that differs only by case, whitespace
or underscores), otherwise it is dropped. Either way it is counted. A trace is kept when at least one
path survives, its answer matches the gold answers (when known: rejection sampling) and no earlier
trace had the same question and path set.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from distill.traces import PathCheck, Trace, TracePath, Verification
from kg.naming import inverse
from kg.store import GraphStore
from kg.types import Path

MAX_REPAIR_CANDIDATES = 256  # edits tried per path; beyond this the path is dropped, not searched
_SPACES = re.compile(r"[\s_]+")


def normalize_name(name: str) -> str:
    """Comparison key for names and answers: case, underscores and runs of whitespace do not count."""
    return _SPACES.sub(" ", name).strip().casefold()


def answer_matches(answer: str | None, gold: Iterable[str]) -> bool:
    return answer is not None and normalize_name(answer) in {normalize_name(g) for g in gold}


class NameIndex:
    """Normalised name -> the KG's entity names with that key; built once, on first use."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self._by_key: dict[str, list[str]] | None = None

    def _build(self) -> dict[str, list[str]]:
        names: Iterable[str]
        ids = getattr(self.store, "entity_ids", None)  # MemoryStore: no triple scan needed
        if isinstance(ids, dict):
            names = ids.keys()
        else:
            names = {n for t in self.store.iter_triples() for n in (t.head, t.tail)}
        by_key: dict[str, list[str]] = {}
        for n in names:
            by_key.setdefault(normalize_name(n), []).append(n)
        return by_key

    def lookup(self, name: str) -> list[str]:
        if self._by_key is None:
            self._by_key = self._build()
        return sorted(self._by_key.get(normalize_name(name), []))


def check_path(store: GraphStore, names: NameIndex, cited: Path) -> PathCheck:
    """Keep, repair (exactly one KG path fits an edit) or drop one cited path."""
    cited_tp = TracePath.of(cited)
    if store.has_path(cited):
        return PathCheck(cited=cited_tp, status="ok", path=cited_tp)
    entity_options: list[list[str]] = []
    for ent in cited.entities:
        if store.has_entity(ent):
            entity_options.append([ent])
            continue
        found = names.lookup(ent)
        if not found:
            return PathCheck(cited=cited_tp, status="missing", reason=f"entity not in KG: {ent}")
        entity_options.append(found)
    relation_options = [[rel, inverse(rel)] for rel in cited.relations]
    fits: list[tuple[int, Path]] = []
    combos = itertools.product(itertools.product(*entity_options), itertools.product(*relation_options))
    for ents, rels in itertools.islice(combos, MAX_REPAIR_CANDIDATES):
        candidate = Path(tuple(ents), tuple(rels))
        if candidate != cited and store.has_path(candidate):
            fits.append((_edits(cited, candidate), candidate))
    if not fits:
        return PathCheck(cited=cited_tp, status="missing", reason="no KG path fits")
    fewest = min(e for e, _ in fits)
    best = [p for e, p in fits if e == fewest]  # the smallest edit wins; a tie is ambiguous
    if len(best) > 1:
        return PathCheck(cited=cited_tp, status="missing", reason="ambiguous repair")
    fixed = best[0]
    kinds = []
    if fixed.relations != cited.relations:
        kinds.append("direction")
    if fixed.entities != cited.entities:
        kinds.append("entity_name")
    return PathCheck(cited=cited_tp, status="repaired", path=TracePath.of(fixed), reason="+".join(kinds))


def _edits(a: Path, b: Path) -> int:
    return sum(x != y for x, y in zip(a.entities, b.entities, strict=True)) + sum(
        x != y for x, y in zip(a.relations, b.relations, strict=True)
    )


@dataclass
class VerifyReport:
    traces_in: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    paths: Counter[str] = field(default_factory=Counter)  # ok / repaired / missing
    repairs: Counter[str] = field(default_factory=Counter)  # direction / entity_name
    missing_reasons: Counter[str] = field(default_factory=Counter)
    dropped_examples: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "traces_in": self.traces_in,
            "kept": self.kept,
            "dropped": sum(self.dropped.values()),
            "dropped_by_reason": dict(self.dropped),
            "paths": dict(self.paths),
            "repairs": dict(self.repairs),
            "missing_path_reasons": dict(self.missing_reasons),
            "dropped_examples": self.dropped_examples,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VerifyReport:
        """The report ``to_json`` wrote (a resumed verify job goes on counting from it)."""
        return cls(
            traces_in=int(data["traces_in"]),
            kept=int(data["kept"]),
            dropped=Counter(data["dropped_by_reason"]),
            paths=Counter(data["paths"]),
            repairs=Counter(data["repairs"]),
            missing_reasons=Counter(data["missing_path_reasons"]),
            dropped_examples=list(data["dropped_examples"]),
        )


class Verifier:
    """Verifies a stream of traces against one store, deduplicating as it goes."""

    def __init__(self, store: GraphStore, require_answer: bool = True) -> None:
        self.store = store
        self.names = NameIndex(store)
        self.require_answer = require_answer
        self.report = VerifyReport()
        self._seen: set[tuple[str, frozenset[Path]]] = set()

    def verify(self, trace: Trace) -> Trace:
        """The trace with its ``verification`` filled in (kept or not), report updated."""
        self.report.traces_in += 1
        checks = [check_path(self.store, self.names, p) for p in trace.cited_paths()]
        for c in checks:
            self.report.paths[c.status] += 1
            if c.status == "repaired":
                for kind in c.reason.split("+"):
                    self.report.repairs[kind] += 1
            elif c.status == "missing":
                self.report.missing_reasons[c.reason.split(":")[0]] += 1
        gold = trace.gold_answers or []
        answer_ok = answer_matches(trace.answer, gold) if gold else None
        ver = Verification(checks=checks, answer_correct=answer_ok)
        key = _dedupe_key(trace, ver)
        kept_paths = key[1]
        if trace.error is not None:  # the teacher request failed, or supervision found no path
            ver.reason = "trace_error"
        elif not checks:
            ver.reason = "no_paths_cited"
        elif not kept_paths:
            ver.reason = "all_paths_missing"
        elif answer_ok is False and self.require_answer:
            ver.reason = "wrong_answer"
        elif key in self._seen:
            ver.reason = "duplicate"
        else:
            ver.kept = True
            self._seen.add(key)
        if ver.kept:
            self.report.kept += 1
        else:
            self.report.dropped[ver.reason] += 1
            if len(self.report.dropped_examples) < 20:
                example = {"id": trace.id, "reason": ver.reason}
                if trace.error is not None:
                    example["error"] = trace.error
                self.report.dropped_examples.append(example)
        return trace.model_copy(update={"verification": ver})

    def remember(self, kept: Trace) -> None:
        """Count a trace kept by an earlier run as seen, so its duplicates are still dropped."""
        if kept.verification is not None and kept.verification.kept:
            self._seen.add(_dedupe_key(kept, kept.verification))

    def verify_all(self, traces: Iterable[Trace]) -> Iterator[Trace]:
        for t in traces:
            yield self.verify(t)


def _dedupe_key(trace: Trace, ver: Verification) -> tuple[str, frozenset[Path]]:
    return normalize_name(trace.question), frozenset(ver.kept_paths())


def training_paths(trace: Trace) -> list[Path]:
    """The verified paths of a kept trace worth training on: those ending in a gold answer when known."""
    if trace.verification is None or not trace.verification.kept:
        return []
    paths = trace.verification.kept_paths()
    if trace.gold_answers:
        gold = {normalize_name(g) for g in trace.gold_answers}
        paths = [p for p in paths if normalize_name(p.end) in gold]
    return list(dict.fromkeys(paths))

"""Plain value types shared across the pipeline."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Triple:
    head: str
    relation: str
    tail: str


@dataclass(frozen=True, slots=True, order=True)
class Path:
    """A walk ``e0 -r1-> e1 ... -rH-> eH``; relations ending in ``_inv`` are walked backwards."""

    entities: tuple[str, ...]
    relations: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.entities) != len(self.relations) + 1:
            raise ValueError("a path has exactly one more entity than relations")

    @property
    def start(self) -> str:
        return self.entities[0]

    @property
    def end(self) -> str:
        return self.entities[-1]

    @property
    def hops(self) -> int:
        return len(self.relations)

    def sort_key(self) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
        """Canonical order used by every store so results compare equal."""
        return (self.hops, self.relations, self.entities)

    def text(self, sep: str = " -> ") -> str:
        parts = [self.entities[0]]
        for rel, ent in zip(self.relations, self.entities[1:], strict=True):
            parts += [rel, ent]
        return sep.join(parts)

    def to_json(self) -> dict[str, list[str]]:
        return {"entities": list(self.entities), "relations": list(self.relations)}


@dataclass(frozen=True, slots=True)
class GraphStats:
    entities: int
    triples: int
    relations: int

    def to_json(self) -> dict[str, int]:
        return {"entities": self.entities, "triples": self.triples, "relations": self.relations}


@dataclass(slots=True)
class LoadReport:
    """What a load did: rows read, triples new to the store, rows skipped (first few kept)."""

    file: str
    rows: int = 0
    added: int = 0
    skipped: int = 0
    skipped_examples: list[str] | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "rows": self.rows,
            "added": self.added,
            "skipped": self.skipped,
            "skipped_examples": self.skipped_examples or [],
            "seconds": round(self.seconds, 3),
        }

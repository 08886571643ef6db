"""The ``GraphStore`` interface every backend implements (Neo4j, in-process).

Path semantics, identical on every store (tested):
- a walk may use every stored triple forwards (``r``) and backwards (``r_inv``, see ``kg.naming``);
- a path is a non-backtracking walk: no step walks the triple the step before it walked, so
  ``a -r-> b -r_inv-> a`` over one triple is not a path, while ``a -spouse-> b -spouse-> a -spouse-> b``
  over the two triples ``(a, spouse, b)`` and ``(b, spouse, a)`` is (PathQuestion's gold paths walk like
  that; GCR allows even the backtrack); entities and triples may otherwise repeat;
- results are sorted by ``Path.sort_key`` before ``limit`` cuts them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence

from kg.naming import base_relation
from kg.types import GraphStats, Path, Triple


class GraphStore(ABC):
    """A knowledge graph of ``(head, relation, tail)`` triples with names as keys."""

    kind: str = "abstract"

    @abstractmethod
    def add_triples(self, triples: Iterable[Triple]) -> int:
        """Store the triples; return how many were new (loading twice adds nothing)."""

    @abstractmethod
    def stats(self) -> GraphStats: ...

    @abstractmethod
    def iter_triples(self) -> Iterator[Triple]:
        """Every stored triple, streamed (used to build decoding indexes)."""

    @abstractmethod
    def has_entity(self, name: str) -> bool: ...

    @abstractmethod
    def has_triple(self, head: str, relation: str, tail: str) -> bool:
        """Whether ``head -relation-> tail`` is stored (forward names only)."""

    @abstractmethod
    def neighbors(self, entity: str, relation: str | None = None) -> list[tuple[str, str]]:
        """Sorted ``(relation, entity)`` steps out of ``entity``, inverse steps included.

        With ``relation`` (which may be an ``_inv`` name), only the steps along it.
        """

    @abstractmethod
    def paths_from(self, sources: Sequence[str], max_hops: int, limit: int) -> list[Path]:
        """All paths of 1..max_hops steps starting at any of ``sources`` (sorted, at most ``limit``)."""

    @abstractmethod
    def shortest_paths(
        self, sources: Sequence[str], targets: Sequence[str], max_hops: int, limit: int
    ) -> list[Path]:
        """For each (source, target) pair joined within ``max_hops``, all its shortest paths (sorted)."""

    @abstractmethod
    def clear(self) -> None:
        """Delete every entity and triple."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def has_path(self, path: Path) -> bool:
        """Whether ``path`` is a real path of this graph (each step stored, none walks back over the
        triple the step before it walked)."""
        last: tuple[str, str, str] | None = None
        for src, rel, dst in zip(path.entities, path.relations, path.entities[1:], strict=False):
            triple = stored_triple(src, rel, dst)
            if triple == last or not self.has_triple(*triple):
                return False
            last = triple
        return path.hops >= 1

    def steps_along(self, entities: Sequence[str], relation: str) -> dict[str, list[str]]:
        """For each of ``entities``, the sorted entities one ``relation`` step away (``_inv`` allowed).

        Entities with no such step are left out. Stores with round trips override this with one query."""
        out: dict[str, list[str]] = {}
        for entity in dict.fromkeys(entities):
            found = [dst for _, dst in self.neighbors(entity, relation)]
            if found:
                out[entity] = found
        return out

    def chain_paths(self, sources: Sequence[str], relations: Sequence[str], limit: int) -> list[Path]:
        """Paths from ``sources`` that follow exactly ``relations`` (sorted, at most ``limit``).

        Expands breadth-first, one ``steps_along`` call per step; partial paths beyond ``limit`` per
        step are cut in sort order, so a huge fan-out stays bounded."""
        frontier = [Path((s,), ()) for s in dict.fromkeys(sources)]  # an unknown source has no steps
        for rel in relations:
            steps = self.steps_along([path.end for path in frontier], rel)
            grown: list[Path] = []
            for path in frontier:
                src = path.end
                barred = last_triple(path)  # the next step may not walk it again
                for dst in steps.get(src, ()):
                    if stored_triple(src, rel, dst) != barred:
                        grown.append(Path((*path.entities, dst), (*path.relations, rel)))
            grown.sort(key=Path.sort_key)
            frontier = grown[:limit]
        return frontier if relations else []

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stored_triple(src: str, step_relation: str, dst: str) -> tuple[str, str, str]:
    """The stored ``(head, relation, tail)`` that the step ``src -step_relation-> dst`` walks."""
    name, backwards = base_relation(step_relation)
    return (dst, name, src) if backwards else (src, name, dst)


def last_triple(path: Path) -> tuple[str, str, str] | None:
    """The stored triple ``path``'s last step walked (None for a path of no steps)."""
    if not path.hops:
        return None
    return stored_triple(path.entities[-2], path.relations[-1], path.end)


def sort_and_cut(paths: Iterable[Path], limit: int) -> list[Path]:
    return sorted(set(paths), key=Path.sort_key)[:limit]

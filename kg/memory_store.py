"""The embedded default store: interned names, append-only triple arrays, a lazily built CSR.

Persists to one ``.npz`` file (written to a temporary name, then renamed, so a failed save or load never
damages what was stored). ``transaction()`` rolls back a failed batch load in memory too.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path as FsPath

import numpy as np

from kg.errors import StoreError
from kg.naming import base_relation
from kg.store import GraphStore, sort_and_cut
from kg.types import GraphStats, Path, Triple
from kg.walkgraph import WalkGraph

FORMAT_VERSION = 1


class _Names:
    """Bidirectional string <-> dense id table."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.ids: dict[str, int] = {}

    def intern(self, name: str) -> int:
        i = self.ids.get(name)
        if i is None:
            i = self.ids[name] = len(self.names)
            self.names.append(name)
        return i

    def truncate(self, n: int) -> None:
        for name in self.names[n:]:
            del self.ids[name]
        del self.names[n:]


def _pack_names(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    encoded = [n.encode("utf-8") for n in names]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def _unpack_names(blob: np.ndarray, offsets: np.ndarray) -> list[str]:
    raw = blob.tobytes()
    return [raw[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(len(offsets) - 1)]


class MemoryStore(GraphStore):
    kind = "memory"

    def __init__(self, file: str | os.PathLike[str] | None = None) -> None:
        self.file = FsPath(file) if file is not None else None
        self._entities = _Names()
        self._relations = _Names()
        self._heads, self._rels, self._tails = array("q"), array("q"), array("q")
        self._keys: set[tuple[int, int, int]] = set()
        self._walk: WalkGraph | None = None
        if self.file is not None and self.file.exists():
            self._read(self.file)

    # ---- writing -------------------------------------------------------------------------------
    def add_triples(self, triples: Iterable[Triple]) -> int:
        added = 0
        ent, rel = self._entities.intern, self._relations.intern
        for t in triples:
            key = (ent(t.head), rel(t.relation), ent(t.tail))
            if key not in self._keys:
                self._keys.add(key)
                self._heads.append(key[0])
                self._rels.append(key[1])
                self._tails.append(key[2])
                added += 1
        self._walk = None
        return added

    @contextmanager
    def transaction(self) -> Iterator[MemoryStore]:
        """Undo every triple and name added inside the block if it raises."""
        n_ent, n_rel, n_tri = len(self._entities.names), len(self._relations.names), len(self._heads)
        try:
            yield self
        except BaseException:
            for i in range(n_tri, len(self._heads)):
                self._keys.discard((self._heads[i], self._rels[i], self._tails[i]))
            del self._heads[n_tri:], self._rels[n_tri:], self._tails[n_tri:]
            self._entities.truncate(n_ent)
            self._relations.truncate(n_rel)
            self._walk = None
            raise

    def clear(self) -> None:
        """Forget every triple and name; the store keeps its file, so ``save()`` persists the empty graph."""
        file = self.file
        self.__init__(None)  # type: ignore[misc]
        self.file = file

    def save(self, file: str | os.PathLike[str] | None = None) -> FsPath:
        target = FsPath(file) if file is not None else self.file
        if target is None:
            raise StoreError("this memory store has no file to save to")
        target.parent.mkdir(parents=True, exist_ok=True)
        ent_blob, ent_off = _pack_names(self._entities.names)
        rel_blob, rel_off = _pack_names(self._relations.names)
        tmp = target.with_name(target.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                version=np.array([FORMAT_VERSION]),
                ent_blob=ent_blob,
                ent_off=ent_off,
                rel_blob=rel_blob,
                rel_off=rel_off,
                heads=np.frombuffer(self._heads, dtype=np.int64),
                rels=np.frombuffer(self._rels, dtype=np.int64),
                tails=np.frombuffer(self._tails, dtype=np.int64),
            )
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        return target

    def _read(self, file: FsPath) -> None:
        try:
            with np.load(file, allow_pickle=False) as data:
                if int(data["version"][0]) != FORMAT_VERSION:
                    raise StoreError(f"{file}: unsupported memory-store format {int(data['version'][0])}")
                for name in _unpack_names(data["ent_blob"], data["ent_off"]):
                    self._entities.intern(name)
                for name in _unpack_names(data["rel_blob"], data["rel_off"]):
                    self._relations.intern(name)
                self._heads = array("q", data["heads"].tobytes())
                self._rels = array("q", data["rels"].tobytes())
                self._tails = array("q", data["tails"].tobytes())
        except (OSError, KeyError, ValueError) as exc:
            raise StoreError(f"{file}: not a readable memory-store file ({exc})") from exc
        self._keys = set(zip(self._heads, self._rels, self._tails, strict=True))

    # ---- reading -------------------------------------------------------------------------------
    @property
    def walk_graph(self) -> WalkGraph:
        if self._walk is None:
            self._walk = WalkGraph.build(
                self._entities.names,
                self._relations.names,
                np.frombuffer(self._heads, dtype=np.int64),
                np.frombuffer(self._rels, dtype=np.int64),
                np.frombuffer(self._tails, dtype=np.int64),
            )
        return self._walk

    @property
    def entity_ids(self) -> dict[str, int]:
        return self._entities.ids

    @property
    def relation_ids(self) -> dict[str, int]:
        return self._relations.ids

    def stats(self) -> GraphStats:
        return GraphStats(len(self._entities.names), len(self._heads), len(self._relations.names))

    def iter_triples(self) -> Iterator[Triple]:
        ents, rels = self._entities.names, self._relations.names
        for h, r, t in zip(self._heads, self._rels, self._tails, strict=True):
            yield Triple(ents[h], rels[r], ents[t])

    def has_entity(self, name: str) -> bool:
        return name in self._entities.ids

    def has_triple(self, head: str, relation: str, tail: str) -> bool:
        e, r = self._entities.ids, self._relations.ids
        if head not in e or tail not in e or relation not in r:
            return False
        return (e[head], r[relation], e[tail]) in self._keys

    def neighbors(self, entity: str, relation: str | None = None) -> list[tuple[str, str]]:
        eid = self._entities.ids.get(entity)
        if eid is None:
            return []
        g = self.walk_graph
        rels, dsts, _ = g.steps(eid)
        if relation is not None:
            want = g.step_relation_id(relation, self._relations.ids)
            if want is None:
                return []
            mask = rels == want
            rels, dsts = rels[mask], dsts[mask]
        names = self._entities.names
        return sorted(
            {(g.step_relation_name(int(r)), names[int(d)]) for r, d in zip(rels, dsts, strict=True)}
        )

    def _ids(self, names: Sequence[str]) -> list[int]:
        return [self._entities.ids[n] for n in names if n in self._entities.ids]

    def _path(self, ents: Sequence[int], rels: Sequence[int]) -> Path:
        g, names = self.walk_graph, self._entities.names
        return Path(tuple(names[e] for e in ents), tuple(g.step_relation_name(r) for r in rels))

    def paths_from(self, sources: Sequence[str], max_hops: int, limit: int) -> list[Path]:
        walks = self.walk_graph.walks(self._ids(sources), max_hops)
        return sort_and_cut((self._path(e, r) for e, r in walks), limit)

    def shortest_paths(
        self, sources: Sequence[str], targets: Sequence[str], max_hops: int, limit: int
    ) -> list[Path]:
        g = self.walk_graph
        target_ids = set(self._ids(targets))
        found: list[Path] = []
        for source in dict.fromkeys(self._ids(sources)):
            dist = {source: 0}
            frontier = [source]
            pending = target_ids - {source}
            for depth in range(1, max_hops + 1):
                if not pending or not frontier:
                    break  # every target's layer is complete: deeper layers cannot shorten a path
                nxt = []
                for u in frontier:
                    for v in g.steps(u)[1].tolist():
                        if v not in dist:
                            dist[v] = depth
                            nxt.append(v)
                frontier = nxt
                pending.difference_update(nxt)
            for target in target_ids:
                if target != source and target in dist:
                    found.extend(self._back_paths(source, target, dist))
        return sort_and_cut(found, limit)

    def _back_paths(self, source: int, target: int, dist: dict[int, int]) -> Iterator[Path]:
        """All shortest paths source -> target, enumerated backwards over the BFS layers."""
        g = self.walk_graph
        n_rel = g.num_stored_relations

        def back(v: int) -> Iterator[tuple[list[int], list[int]]]:
            if v == source:
                yield [source], []
                return
            rels, dsts, _ = g.steps(v)
            for r, u in zip(rels.tolist(), dsts.tolist(), strict=True):
                if dist.get(u) == dist[v] - 1:
                    forward = r - n_rel if r >= n_rel else r + n_rel  # step u -> v is the reverse
                    for ents, rs in back(u):
                        yield [*ents, v], [*rs, forward]

        for ents, rs in back(target):
            yield self._path(ents, rs)

    def has_path(self, path: Path) -> bool:
        # cheaper than the generic walk: no name lookups per triple beyond the dict hits
        for rel in path.relations:
            if base_relation(rel)[0] not in self._relations.ids:
                return False
        return super().has_path(path)

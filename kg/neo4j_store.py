"""``GraphStore`` on Neo4j (5.26) through the official driver; every statement lives in ``kg.cypher``.

Writes run as managed transactions (``execute_write``) of idempotent functions: one batch = one
transaction that MERGEs the batch's entities, then its triples. A crash mid-load leaves whole batches;
loading again converges to the exact counts. Reads return exactly what ``MemoryStore`` returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import neo4j
from neo4j import exceptions as neo4j_errors

from kg import cypher
from kg.errors import StoreError, StoreUnavailableError
from kg.naming import INVERSE_SUFFIX, base_relation
from kg.settings import Settings
from kg.store import GraphStore, sort_and_cut
from kg.types import GraphStats, Path, Triple

T = TypeVar("T")
_PAGE_HEADS = 5_000  # head entities per iter_triples page


class Neo4jStore(GraphStore):
    kind = "neo4j"

    def __init__(
        self,
        uri: str,
        auth: tuple[str, str] | None = None,
        database: str | None = None,
        batch_size: int = 10_000,
        connection_timeout_s: float = 10.0,
        max_retry_s: float = 5.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.uri, self.database, self.batch_size = uri, database, batch_size
        self._schema_ready = False
        # what this store's writes created so far, from the servers' result-summary counters
        self.created = {"nodes": 0, "relationships": 0}
        try:
            self._driver = neo4j.GraphDatabase.driver(
                uri,
                auth=auth,
                connection_timeout=connection_timeout_s,
                max_transaction_retry_time=max_retry_s,
                notifications_min_severity="OFF",
            )
        except (neo4j_errors.ConfigurationError, ValueError) as exc:
            raise StoreUnavailableError(f"cannot use Neo4j URI {uri!r}: {exc}") from exc

    @classmethod
    def from_settings(cls, settings: Settings, uri: str | None = None) -> Neo4jStore:
        # The dev server runs with auth disabled and accepts any basic-auth token, so credentials are
        # always sent; a server with auth on needs the right KGR_NEO4J_USER / KGR_NEO4J_PASSWORD.
        auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
        return cls(
            uri or settings.neo4j_uri,
            auth=auth,
            database=settings.neo4j_database,
            batch_size=settings.neo4j_batch_size,
        )

    # ---- plumbing ------------------------------------------------------------------------------------
    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Driver errors become kgreason errors that name the server."""
        try:
            yield
        except (neo4j_errors.ServiceUnavailable, neo4j_errors.SessionExpired) as exc:
            raise StoreUnavailableError(f"Neo4j at {self.uri} is not reachable: {exc}") from exc
        except neo4j_errors.AuthError as exc:
            raise StoreUnavailableError(f"Neo4j at {self.uri} refused the credentials: {exc}") from exc
        except neo4j_errors.Neo4jError as exc:
            raise StoreError(f"Neo4j at {self.uri} failed: {exc}") from exc
        except neo4j_errors.DriverError as exc:
            raise StoreUnavailableError(f"Neo4j at {self.uri}: driver error: {exc}") from exc

    def _read(self, query: str, **params: Any) -> list[neo4j.Record]:
        with self._errors():
            records, _, _ = self._driver.execute_query(
                query, params, routing_=neo4j.RoutingControl.READ, database_=self.database
            )
        return records

    def _write(self, work: Callable[[neo4j.ManagedTransaction], T]) -> T:
        with self._errors(), self._driver.session(database=self.database) as session:
            return session.execute_write(work)

    def _value(self, query: str, **params: Any) -> Any:
        return self._read(query, **params)[0][0]

    def ping(self) -> bool:
        """Whether the server answers a query now (readiness checks)."""
        try:
            self._read(cypher.PING)
        except StoreError:
            return False
        return True

    def ensure_schema(self) -> None:
        """The uniqueness constraint (and its index) exists before the first write."""
        if self._schema_ready:
            return
        with self._errors(), self._driver.session(database=self.database) as session:
            session.run(cypher.CREATE_ENTITY_NAME_CONSTRAINT).consume()
            session.run(cypher.AWAIT_INDEXES).consume()
        self._schema_ready = True

    # ---- writing -------------------------------------------------------------------------------------
    def add_triples(self, triples: Iterable[Triple]) -> int:
        self.ensure_schema()
        added = 0
        batch: dict[Triple, None] = {}  # ordered set: duplicates dropped before they reach the server
        for triple in triples:
            batch[triple] = None
            if len(batch) >= self.batch_size:
                added += self._write_batch(list(batch))
                batch.clear()
        if batch:
            added += self._write_batch(list(batch))
        return added

    def _write_batch(self, triples: list[Triple]) -> int:
        names = list(dict.fromkeys(name for t in triples for name in (t.head, t.tail)))
        groups: dict[str, list[list[str]]] = {}
        for t in triples:
            groups.setdefault(t.head, []).append([t.relation, t.tail])
        rows = [[head, out] for head, out in groups.items()]

        def work(tx: neo4j.ManagedTransaction) -> tuple[int, int]:
            # idempotent: a retried attempt starts from the rolled-back state and MERGEs the same rows
            nodes = tx.run(cypher.MERGE_ENTITIES, names=names).consume().counters.nodes_created
            return nodes, tx.run(cypher.MERGE_TRIPLES, groups=rows).consume().counters.relationships_created

        nodes, relationships = self._write(work)
        self.created["nodes"] += nodes
        self.created["relationships"] += relationships
        return relationships

    def clear(self) -> None:
        """Delete in bounded transactions (relationships first), so a huge graph never needs one huge tx."""
        for query in (cypher.DELETE_TRIPLES_BATCH, cypher.DELETE_ENTITIES_BATCH):

            def delete_some(tx: neo4j.ManagedTransaction, query: str = query) -> int:
                return int(tx.run(query, batch=self.batch_size).single(strict=True)[0])

            while self._write(delete_some):
                pass

    def close(self) -> None:
        self._driver.close()

    # ---- reading -------------------------------------------------------------------------------------
    def stats(self) -> GraphStats:
        return GraphStats(
            entities=self._value(cypher.COUNT_ENTITIES),
            triples=self._value(cypher.COUNT_TRIPLES),
            relations=self._value(cypher.COUNT_RELATION_NAMES),
        )

    def iter_triples(self) -> Iterator[Triple]:
        records = self._read(cypher.TRIPLES_FIRST_PAGE, page=_PAGE_HEADS)
        while records:
            for head, out in records:
                for relation, tail in out:
                    yield Triple(head, relation, tail)
            if len(records) < _PAGE_HEADS:
                return
            records = self._read(cypher.TRIPLES_NEXT_PAGE, page=_PAGE_HEADS, after=records[-1][0])

    def has_entity(self, name: str) -> bool:
        return bool(self._value(cypher.HAS_ENTITY, name=name))

    def has_triple(self, head: str, relation: str, tail: str) -> bool:
        records = self._read(cypher.HAS_TRIPLE, head=head, relation=relation, tail=tail)
        return bool(records and records[0][0])

    def neighbors(self, entity: str, relation: str | None = None) -> list[tuple[str, str]]:
        if relation is not None:
            return [(relation, dst) for dst in self.steps_along([entity], relation).get(entity, [])]
        records = self._read(cypher.NEIGHBORS, name=entity, inv=INVERSE_SUFFIX)
        return sorted({(r, e) for r, e in records})

    def steps_along(self, entities: Sequence[str], relation: str) -> dict[str, list[str]]:
        names = list(dict.fromkeys(entities))
        if not names:
            return {}
        base, backwards = base_relation(relation)
        query = cypher.STEPS_BACKWARD if backwards else cypher.STEPS_FORWARD
        out: dict[str, set[str]] = {}
        for source, entity in self._read(query, names=names, relation=relation, base=base):
            out.setdefault(source, set()).add(entity)
        return {source: sorted(found) for source, found in out.items()}

    def paths_from(self, sources: Sequence[str], max_hops: int, limit: int) -> list[Path]:
        if limit <= 0 or not sources:
            return []
        records = self._read(
            cypher.paths_from(max_hops), sources=list(dict.fromkeys(sources)), limit=limit, inv=INVERSE_SUFFIX
        )
        return self._paths(records, limit)

    def shortest_paths(
        self, sources: Sequence[str], targets: Sequence[str], max_hops: int, limit: int
    ) -> list[Path]:
        if limit <= 0 or not sources or not targets:
            return []
        records = self._read(
            cypher.shortest_paths(max_hops),
            sources=list(dict.fromkeys(sources)),
            targets=list(dict.fromkeys(targets)),
            limit=limit,
            inv=INVERSE_SUFFIX,
        )
        return self._paths(records, limit)

    @staticmethod
    def _paths(records: list[neo4j.Record], limit: int) -> list[Path]:
        # the server already sorted and cut; sorting again here is cheap and keeps one definition of order
        return sort_and_cut((Path(tuple(r["entities"]), tuple(r["relations"])) for r in records), limit)

"""Open the configured ``GraphStore``."""

from __future__ import annotations

from kg.errors import ConfigError
from kg.memory_store import MemoryStore
from kg.settings import Settings
from kg.store import GraphStore


def open_store(settings: Settings, kind: str | None = None, neo4j_uri: str | None = None) -> GraphStore:
    kind = kind or settings.store
    if kind == "memory":
        return MemoryStore(settings.memory_store_file)
    if kind == "neo4j":
        from kg.neo4j_store import Neo4jStore  # imported lazily: the driver is only needed here

        return Neo4jStore.from_settings(settings, uri=neo4j_uri)
    raise ConfigError(f"unknown store {kind!r}; expected memory or neo4j")

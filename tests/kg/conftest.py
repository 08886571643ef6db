"""KG test fixtures: a cleared Neo4j store, and KBs loaded into both stores for cross-store checks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kg_test_kbs import forget_loaded_kb

from kg.neo4j_store import Neo4jStore
from kg.settings import Settings


def open_neo4j(uri: str) -> Neo4jStore:
    """A store on the test server with the configured credentials (the dev server ignores them)."""
    return Neo4jStore.from_settings(Settings.model_validate({}), uri=uri)


@pytest.fixture
def neo4j_store(neo4j_uri: str) -> Iterator[Neo4jStore]:
    """An EMPTY Neo4j store (the database is cleared before the test)."""
    store = open_neo4j(neo4j_uri)
    forget_loaded_kb()
    store.clear()
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="session")
def neo4j_session_store(neo4j_uri: str) -> Iterator[Neo4jStore]:
    store = open_neo4j(neo4j_uri)
    try:
        yield store
    finally:
        store.close()

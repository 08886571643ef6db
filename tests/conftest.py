"""Root fixtures: the shared data folder and the Neo4j test server.

Tests marked ``neo4j`` need the real server (``deploy/neo4j/neo4j.sh up``); when it does not answer they
FAIL with a message saying so (a missing server must never turn into a silently green run).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO / ".." / "shared" / "data"
NEO4J_URI_ENV = "KGR_TEST_NEO4J_URI"
DEFAULT_TEST_NEO4J_URI = "bolt://127.0.0.1:7687"


def configured_neo4j_uri() -> str:
    return os.environ.get(NEO4J_URI_ENV, DEFAULT_TEST_NEO4J_URI)


@lru_cache(maxsize=1)
def _neo4j_problem(uri: str) -> str | None:
    """None when the server answers, else why not (checked once per session)."""
    import neo4j

    from kg.settings import Settings

    # the same credentials the stores use (KGR_NEO4J_USER / KGR_NEO4J_PASSWORD)
    settings = Settings.model_validate({})
    auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
    try:
        with neo4j.GraphDatabase.driver(uri, auth=auth, connection_timeout=5.0) as driver:
            driver.verify_connectivity()
    except Exception as exc:  # any failure means: not usable for tests
        return f"{type(exc).__name__}: {exc}"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("neo4j") is None:
        return
    uri = configured_neo4j_uri()
    problem = _neo4j_problem(uri)
    if problem is not None:
        pytest.fail(
            f"Neo4j is not reachable at {uri} ({problem}). Start it with `deploy/neo4j/neo4j.sh up` "
            f"or point {NEO4J_URI_ENV} at a running server.",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def neo4j_uri() -> str:
    """Bolt URI of the test server; tests using it must be marked ``neo4j`` (checked above)."""
    uri = configured_neo4j_uri()
    problem = _neo4j_problem(uri)
    if problem is not None:
        pytest.fail(f"Neo4j is not reachable at {uri} ({problem}); run `deploy/neo4j/neo4j.sh up`.")
    return uri


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository; a missing folder fails with a clear message."""
    path = SHARED_DATA.resolve()
    if not path.is_dir():
        pytest.fail(f"shared data not found at {path} (expected ../shared/data beside the repo)")
    return path

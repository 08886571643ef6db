"""KBs loaded once per session into both stores, for the cross-store tests."""

from __future__ import annotations

from pathlib import Path

from kg.loaders import load_file
from kg.memory_store import MemoryStore
from kg.neo4j_store import Neo4jStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kg"
METAQA_SLICE = FIXTURES / "metaqa_slice.txt"

# The single Community database holds one KB at a time: which one is loaded now (None: unknown/cleared).
_loaded_in_neo4j: dict[str, str | None] = {"kb": None}
_memory_kbs: dict[str, MemoryStore] = {}


def forget_loaded_kb() -> None:
    _loaded_in_neo4j["kb"] = None


def kb_path(shared_data: Path, kb: str) -> tuple[Path, str]:
    """``(file, format)`` of a KB named in tests: a PathQuestion KB file name or ``metaqa_slice``."""
    if kb == "metaqa_slice":
        return METAQA_SLICE, "metaqa"
    return shared_data / "pathquestion" / kb, "pathquestion"


def memory_kb(shared_data: Path, kb: str) -> MemoryStore:
    if kb not in _memory_kbs:
        store = MemoryStore()
        load_file(store, *kb_path(shared_data, kb))
        _memory_kbs[kb] = store
    return _memory_kbs[kb]


def neo4j_kb(store: Neo4jStore, shared_data: Path, kb: str) -> Neo4jStore:
    """``store`` holding exactly ``kb`` (reloaded only when another KB is in the database)."""
    if _loaded_in_neo4j["kb"] != kb:
        forget_loaded_kb()
        store.clear()
        load_file(store, *kb_path(shared_data, kb))
        _loaded_in_neo4j["kb"] = kb
    return store

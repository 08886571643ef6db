"""``kgr graph load|stats|clear`` in-process, on both stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kg_test_kbs import METAQA_SLICE, forget_loaded_kb

from service.cli import main

SLICE_TRIPLES = sum(1 for line in METAQA_SLICE.open(encoding="utf-8") if line.strip())
SLICE_ENTITIES = len(
    {name for line in METAQA_SLICE.open(encoding="utf-8") for name in line.rstrip("\n").split("|")[::2]}
)


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    capsys.readouterr()
    assert main(list(argv)) == 0
    result: dict[str, object] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return result


def test_memory_store_persists_between_calls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--store", "memory", "--data-dir", str(tmp_path / "data")]
    report = run_json(capsys, "graph", "load", str(METAQA_SLICE), "--format", "metaqa", *data)
    assert (report["rows"], report["added"], report["triples"]) == (
        SLICE_TRIPLES,
        SLICE_TRIPLES,
        SLICE_TRIPLES,
    )
    stats = run_json(capsys, "graph", "stats", "--json", *data)
    assert stats == {"entities": SLICE_ENTITIES, "triples": SLICE_TRIPLES, "relations": 8}
    again = run_json(capsys, "graph", "load", str(METAQA_SLICE), "--format", "metaqa", *data)
    assert again["added"] == 0 and again["triples"] == SLICE_TRIPLES


def test_memory_failed_load_leaves_the_saved_store_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--store", "memory", "--data-dir", str(tmp_path / "data")]
    run_json(capsys, "graph", "load", str(METAQA_SLICE), "--format", "metaqa", *data)
    saved = tmp_path / "data" / "memory" / "graph.npz"
    before = saved.read_bytes()
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"new|r|entity\nanother|r|one\nthird|r|\xff\n")
    assert main(["graph", "load", str(bad), "--format", "metaqa", *data]) == 2
    err = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert err["error"] == "bad_data" and f"{bad}:3" in err["message"]
    assert saved.read_bytes() == before
    assert run_json(capsys, "graph", "stats", "--json", *data)["triples"] == SLICE_TRIPLES
    # --skip-bad loads the good rows and reports the bad one
    report = run_json(capsys, "graph", "load", str(bad), "--format", "metaqa", "--skip-bad", *data)
    assert (report["added"], report["skipped"]) == (2, 1)
    assert main(["graph", "clear", *data]) == 0
    assert run_json(capsys, "graph", "stats", "--json", *data)["triples"] == 0


@pytest.mark.neo4j
def test_neo4j_load_stats_clear(neo4j_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    forget_loaded_kb()
    store = ["--store", "neo4j", "--neo4j-uri", neo4j_uri]
    assert main(["graph", "clear", *store]) == 0
    report = run_json(capsys, "graph", "load", str(METAQA_SLICE), "--format", "metaqa", *store)
    assert (report["added"], report["triples"], report["entities"]) == (
        SLICE_TRIPLES,
        SLICE_TRIPLES,
        SLICE_ENTITIES,
    )
    stats = run_json(capsys, "graph", "stats", "--json", *store)
    assert stats == {"entities": SLICE_ENTITIES, "triples": SLICE_TRIPLES, "relations": 8}
    assert run_json(capsys, "graph", "load", str(METAQA_SLICE), "--format", "metaqa", *store)["added"] == 0
    assert main(["graph", "clear", *store]) == 0
    assert run_json(capsys, "graph", "stats", "--json", *store)["triples"] == 0


def test_neo4j_unreachable_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["graph", "stats", "--store", "neo4j", "--neo4j-uri", "bolt://127.0.0.1:1"]) == 2
    err = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert err["error"] == "store_unavailable" and "bolt://127.0.0.1:1" in err["message"]


@pytest.mark.slow
@pytest.mark.neo4j
def test_full_metaqa_kb_on_both_stores(
    neo4j_uri: str, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kb = str(shared_data / "metaqa" / "kb.txt")
    forget_loaded_kb()
    neo4j_args = ["--store", "neo4j", "--neo4j-uri", neo4j_uri]
    for store in (neo4j_args, ["--store", "memory", "--data-dir", str(tmp_path)]):
        assert main(["graph", "clear", *store]) == 0
        run_json(capsys, "graph", "load", kb, "--format", "metaqa", *store)
        stats = run_json(capsys, "graph", "stats", "--json", *store)
        assert stats == {"entities": 42873, "triples": 129660, "relations": 9}
    assert main(["graph", "clear", *neo4j_args]) == 0

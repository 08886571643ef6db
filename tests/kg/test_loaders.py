"""Loaders: the four formats, bad rows (file + line + field), skip_bad reports, no partial loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.errors import DataFormatError, InputError
from kg.loaders import iter_triples, load_file
from kg.memory_store import MemoryStore
from kg.types import Triple


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def test_tsv_metaqa_pathquestion(tmp_path: Path) -> None:
    tsv = write(tmp_path, "a.tsv", 'a\tr\tb\n\nc d\ts\t"e"\n')
    assert list(iter_triples(tsv, "tsv")) == [Triple("a", "r", "b"), Triple("c d", "s", '"e"')]
    meta = write(tmp_path, "kb.txt", "$9.99|directed_by|Tatia Rosenthal\r\nFilm|release_year|2008\n")
    assert list(iter_triples(meta, "metaqa")) == [
        Triple("$9.99", "directed_by", "Tatia Rosenthal"),
        Triple("Film", "release_year", "2008"),
    ]
    # PathQuestion rows are sometimes separated by two tabs
    pq = write(
        tmp_path, "kb2.txt", "x\t\tparents\ty\nKhanty_people\t__people__ethnicity__languages\tKhanty\n"
    )
    assert list(iter_triples(pq, "pathquestion")) == [
        Triple("x", "parents", "y"),
        Triple("Khanty_people", "__people__ethnicity__languages", "Khanty"),
    ]


def test_ntriples_iris_blank_nodes_literals_and_escapes(tmp_path: Path) -> None:
    nt = write(
        tmp_path,
        "g.nt",
        "# a comment\n"
        "<http://ex.org/a> <http://ex.org/p> <http://ex.org/b> .\n"
        '_:b1 <http://ex.org/name> "Caf\\u00e9 \\"quoted\\" \\\\ tab\\t"@fr .\n'
        '<http://ex.org/a> <http://ex.org/age> "42"^^<http://www.w3.org/2001/XMLSchema#integer> .\n'
        "<http://ex.org/a> <http://ex.org/knows> _:b1 .\n"
        '<http://ex.org/e> <http://ex.org/p> "\\U0001F600" .\n',
    )
    assert list(iter_triples(nt, "ntriples")) == [
        Triple("http://ex.org/a", "http://ex.org/p", "http://ex.org/b"),
        Triple("_:b1", "http://ex.org/name", 'Café "quoted" \\ tab\t'),
        Triple("http://ex.org/a", "http://ex.org/age", "42"),
        Triple("http://ex.org/a", "http://ex.org/knows", "_:b1"),
        Triple("http://ex.org/e", "http://ex.org/p", "😀"),
    ]


@pytest.mark.parametrize(
    ("fmt", "content", "line", "field", "reason"),
    [
        ("tsv", "a\tr\tb\na\tr\n", 2, None, "expected 3 fields"),
        ("metaqa", "a|r|b|c\n", 1, None, "expected 3 fields"),
        ("metaqa", "a|r|b\n |r|b\n", 2, "head", "empty name"),
        ("tsv", "a\t\tb\n", 1, "relation", "empty name"),
        ("pathquestion", "a\tr\t \n", 1, "tail", "empty name"),
        ("metaqa", "a|directed_by_inv|b\n", 1, "relation", "_inv"),
        ("ntriples", '"lit" <http://p> <http://o> .\n', 1, "head", "literal"),
        ("ntriples", "<http://s> _:p <http://o> .\n", 1, "relation", "IRI"),
        ("ntriples", "<http://s> <http://p> <http://o>\n", 1, None, "N-Triples"),
        ("ntriples", '<http://s> <http://p> "two\\nlines" .\n', 1, "tail", "control character"),
    ],
)
def test_bad_rows_name_file_line_and_field(
    tmp_path: Path, fmt: str, content: str, line: int, field: str | None, reason: str
) -> None:
    path = write(tmp_path, "bad.txt", content)
    with pytest.raises(DataFormatError) as info:
        list(iter_triples(path, fmt))
    err = info.value
    assert (err.file, err.line, err.field) == (str(path), line, field)
    assert reason in err.reason
    assert str(err).startswith(f"{path}:{line}")


def test_invalid_utf8_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.txt", b"a|r|b\nc|r|\xff\xfe\n")
    with pytest.raises(DataFormatError) as info:
        list(iter_triples(path, "metaqa"))
    assert info.value.line == 2 and "UTF-8" in info.value.reason


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown format"):
        list(iter_triples(tmp_path / "x", "csv"))
    with pytest.raises(InputError, match="cannot read"):
        list(iter_triples(tmp_path / "missing.txt", "tsv"))


def test_skip_bad_reports_skipped_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "mixed.txt", b"a|r|b\nbad row\nc|r_inv|d\ne|r|\xff\nf|s|g\n")
    store = MemoryStore()
    report = load_file(store, path, "metaqa", skip_bad=True)
    assert (report.rows, report.added, report.skipped) == (2, 2, 3)
    assert report.skipped_examples is not None and len(report.skipped_examples) == 3
    for lineno, example in zip((2, 3, 4), report.skipped_examples, strict=True):
        assert f"{path}:{lineno}" in example
    assert set(store.iter_triples()) == {Triple("a", "r", "b"), Triple("f", "s", "g")}


def test_failed_load_writes_nothing(tmp_path: Path) -> None:
    """The validation pass runs before the first write: a bad last row leaves the store as it was."""
    store = MemoryStore()
    load_file(store, write(tmp_path, "good.txt", "a|r|b\n"), "metaqa")
    rows = "".join(f"n{i}|r|m{i}\n" for i in range(50)) + "broken\n"
    with pytest.raises(DataFormatError):
        load_file(store, write(tmp_path, "bad.txt", rows), "metaqa", batch_size=7)
    assert list(store.iter_triples()) == [Triple("a", "r", "b")]
    assert store.stats().entities == 2


def test_memory_transaction_rolls_back_a_failing_load(tmp_path: Path) -> None:
    store = MemoryStore()
    store.add_triples([Triple("a", "r", "b")])
    with pytest.raises(RuntimeError), store.transaction():
        store.add_triples([Triple("b", "s", "c"), Triple("a", "r", "b")])
        raise RuntimeError("crash mid-load")
    assert list(store.iter_triples()) == [Triple("a", "r", "b")]
    assert (store.stats().entities, store.stats().relations) == (2, 1)
    assert store.neighbors("b") == [("r_inv", "a")]


def test_reload_adds_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "kb.txt", "a|r|b\nb|r|c\na|r|b\n")
    store = MemoryStore()
    first = load_file(store, path, "metaqa")
    again = load_file(store, path, "metaqa")
    assert (first.rows, first.added, again.added) == (3, 2, 0)
    assert store.stats().triples == 2

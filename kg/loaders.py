"""Streaming loaders for triple files: TSV, MetaQA, PathQuestion KB and N-Triples.

Files are read line by line in binary (never whole), decoded strictly, and validated. A bad row raises
``DataFormatError`` naming file, line and field, or, with ``skip_bad=True``, is counted and reported.
``load_file`` validates the whole file before the first write, so a bad row never leaves a partial load.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path as FsPath
from typing import Literal

from tqdm import tqdm

from kg.errors import DataFormatError, InputError
from kg.naming import INVERSE_SUFFIX
from kg.store import GraphStore
from kg.types import LoadReport, Triple

Format = Literal["tsv", "metaqa", "pathquestion", "ntriples"]
FORMATS: tuple[Format, ...] = ("tsv", "metaqa", "pathquestion", "ntriples")
FIELDS = ("head", "relation", "tail")
MAX_NAME_CHARS = 4096
_KEEP_EXAMPLES = 20


def _split_fields(line: str, sep: str | re.Pattern[str], file: str, lineno: int) -> Triple:
    parts = sep.split(line) if isinstance(sep, re.Pattern) else line.split(sep)
    if len(parts) != 3:
        raise DataFormatError(file, lineno, f"expected 3 fields (head, relation, tail), found {len(parts)}")
    names = [p.strip() for p in parts]
    return _triple(names, file, lineno)


def _triple(names: list[str], file: str, lineno: int) -> Triple:
    for field, name in zip(FIELDS, names, strict=True):
        if not name:
            raise DataFormatError(file, lineno, "empty name", field)
        if len(name) > MAX_NAME_CHARS:
            raise DataFormatError(file, lineno, f"name longer than {MAX_NAME_CHARS} characters", field)
        if any(c in name for c in "\x00\n\r"):
            raise DataFormatError(file, lineno, "name contains a control character (NUL or newline)", field)
    if names[1].endswith(INVERSE_SUFFIX):
        raise DataFormatError(
            file,
            lineno,
            f"relation may not end with {INVERSE_SUFFIX!r}: that suffix names inverse edges",
            "relation",
        )
    return Triple(names[0], names[1], names[2])


_TABS = re.compile(r"\t+")  # PathQuestion KB rows are sometimes separated by two tabs


def parse_tsv(line: str, file: str, lineno: int) -> Triple:
    return _split_fields(line, "\t", file, lineno)


def parse_metaqa(line: str, file: str, lineno: int) -> Triple:
    return _split_fields(line, "|", file, lineno)


def parse_pathquestion(line: str, file: str, lineno: int) -> Triple:
    return _split_fields(line, _TABS, file, lineno)


# N-Triples: <iri> | _:blank, then <iri>, then <iri> | _:blank | "literal"(@lang|^^<iri>)?, then "."
_NT_TERM = r'<([^>]*)>|_:(\S+)|"((?:[^"\\]|\\.)*)"(?:@[A-Za-z0-9-]+|\^\^<[^>]*>)?'
_NT_LINE = re.compile(rf"^\s*(?:{_NT_TERM})\s+(?:{_NT_TERM})\s+(?:{_NT_TERM})\s*\.\s*$")
_NT_ESCAPE = re.compile(r'\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[tbnrf"\'\\])')
_SIMPLE_ESCAPES = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _unescape(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        e = m.group(1)
        return chr(int(e[1:], 16)) if e[0] in "uU" else _SIMPLE_ESCAPES[e]

    return _NT_ESCAPE.sub(sub, text)


def parse_ntriples(line: str, file: str, lineno: int) -> Triple:
    """IRIs keep their full text, blank nodes become ``_:label``, literals their (unescaped) value."""
    m = _NT_LINE.match(line)
    if m is None:
        raise DataFormatError(file, lineno, "not an N-Triples statement (<s> <p> <o> .)")
    g = m.groups()
    names = []
    for field, (iri, blank, literal) in zip(FIELDS, (g[0:3], g[3:6], g[6:9]), strict=True):
        if literal is not None and field != "tail":
            raise DataFormatError(file, lineno, "a literal may only be the object", field)
        names.append(
            _unescape(iri) if iri is not None else f"_:{blank}" if blank is not None else _unescape(literal)
        )
    if g[4] is not None:
        raise DataFormatError(file, lineno, "the predicate must be an IRI", "relation")
    return _triple(names, file, lineno)


PARSERS: dict[str, Callable[[str, str, int], Triple]] = {
    "tsv": parse_tsv,
    "metaqa": parse_metaqa,
    "pathquestion": parse_pathquestion,
    "ntriples": parse_ntriples,
}


def iter_triples(
    path: str | os.PathLike[str],
    fmt: str,
    *,
    skip_bad: bool = False,
    on_skip: Callable[[DataFormatError], None] | None = None,
    progress: bool = False,
) -> Iterator[Triple]:
    """Stream the triples of ``path``; blank lines and ``#`` comments are ignored."""
    if fmt not in PARSERS:
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    parse, file = PARSERS[fmt], str(path)
    try:
        size = os.path.getsize(path)
        fh = open(path, "rb")  # noqa: SIM115 - closed below; binary so a bad byte names its line
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror or exc}") from exc
    bar = tqdm(total=size, unit="B", unit_scale=True, desc=FsPath(file).name, disable=not progress)
    try:
        with fh:
            for lineno, raw in enumerate(fh, start=1):
                bar.update(len(raw))
                try:
                    line = raw.decode("utf-8").rstrip("\r\n")
                    if not line.strip() or (fmt == "ntriples" and line.lstrip().startswith("#")):
                        continue
                    yield parse(line, file, lineno)
                except UnicodeDecodeError as exc:
                    err = DataFormatError(file, lineno, f"invalid UTF-8 at byte {exc.start}")
                    if not skip_bad:
                        raise err from None
                    if on_skip:
                        on_skip(err)
                except DataFormatError as err:
                    if not skip_bad:
                        raise
                    if on_skip:
                        on_skip(err)
    finally:
        bar.close()


def load_file(
    store: GraphStore,
    path: str | os.PathLike[str],
    fmt: str,
    *,
    skip_bad: bool = False,
    batch_size: int = 10_000,
    progress: bool = False,
) -> LoadReport:
    """Validate ``path`` in one streaming pass, then stream it into ``store`` in batches."""
    report = LoadReport(file=str(path), skipped_examples=[])
    started = time.perf_counter()

    def note(err: DataFormatError) -> None:
        report.skipped += 1
        if report.skipped_examples is not None and len(report.skipped_examples) < _KEEP_EXAMPLES:
            report.skipped_examples.append(str(err))

    # pass 1: validation only, so a bad row (in raise mode) stops before anything is written
    for _ in iter_triples(path, fmt, skip_bad=skip_bad, on_skip=note, progress=progress):
        report.rows += 1
    batch: list[Triple] = []
    for triple in iter_triples(path, fmt, skip_bad=True, progress=progress):
        batch.append(triple)
        if len(batch) >= batch_size:
            report.added += store.add_triples(batch)
            batch = []
    if batch:
        report.added += store.add_triples(batch)
    report.seconds = time.perf_counter() - started
    return report

"""The versioned JSONL trace format, and question files.

One line per question: who answered it (teacher id or ``kg-supervised``), the raw trace text, the paths
it cites, its answer, and, once ``distill.verify`` ran, the verdict for each path. Files are read and
appended line by line so a long teacher run can be stopped and resumed (``done_ids``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path as FsPath
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from kg.errors import DataFormatError, InputError
from kg.types import Path

TRACE_VERSION = 1
PathStatus = Literal["ok", "repaired", "missing"]


class TracePath(BaseModel):
    entities: list[str]
    relations: list[str]

    @classmethod
    def of(cls, path: Path) -> TracePath:
        return cls(entities=list(path.entities), relations=list(path.relations))

    def to_path(self) -> Path:
        return Path(tuple(self.entities), tuple(self.relations))


class PathCheck(BaseModel):
    """Verdict on one cited path: kept as is, repaired to ``path``, or missing from the KG (dropped)."""

    cited: TracePath
    status: PathStatus
    path: TracePath | None = None  # the KG path kept (the cited one, or its repair)
    reason: str = ""


class Verification(BaseModel):
    checks: list[PathCheck] = Field(default_factory=list)
    answer_correct: bool | None = None  # None: no gold answers known
    kept: bool = False
    reason: str = ""

    def kept_paths(self) -> list[Path]:
        return [c.path.to_path() for c in self.checks if c.path is not None]


class Trace(BaseModel):
    version: int = TRACE_VERSION
    id: str
    question: str
    topic_entities: list[str]
    teacher: str
    text: str = ""
    paths: list[TracePath] = Field(default_factory=list)
    answer: str | None = None
    gold_answers: list[str] | None = None
    usage: dict[str, int] = Field(default_factory=dict)  # prompt/completion/total tokens
    error: str | None = None  # a failed request, recorded so the run can go on
    verification: Verification | None = None

    def cited_paths(self) -> list[Path]:
        return [p.to_path() for p in self.paths]


class Question(BaseModel):
    id: str
    question: str
    topic_entities: list[str]
    answers: list[str] = Field(default_factory=list)
    # the data set's annotated relation chain (MetaQA's qtype chain, PathQuestion's gold path), when known
    relation_path: list[str] | None = None


def _topics(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError("topic_entity must be a string or a list of strings")


def _relation_path(value: object) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise ValueError("relation_path must be a non-empty list of relation names")


def read_questions(file: str | os.PathLike[str], limit: int | None = None) -> list[Question]:
    """Question JSONL (id, question, topic_entity: str | list, answers, optional relation_path).

    Bad rows raise DataFormatError naming the file and line.
    """
    out: list[Question] = []
    with open(file, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                topics = row.get("topic_entities", row.get("topic_entity"))
                out.append(
                    Question(
                        id=str(row["id"]),
                        question=row["question"],
                        topic_entities=_topics(topics),
                        answers=list(row.get("answers") or []),
                        relation_path=_relation_path(row.get("relation_path")),
                    )
                )
            except (json.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
                raise DataFormatError(str(file), lineno, str(exc)) from exc
            if limit is not None and len(out) >= limit:
                break
    return out


def iter_traces(file: str | os.PathLike[str]) -> Iterator[Trace]:
    """Stream traces; a truncated last line (killed writer) is skipped, other bad lines raise."""
    path = FsPath(file)
    if not path.exists():
        raise InputError(f"trace file {path} does not exist")
    with path.open(encoding="utf-8") as fh:
        lines = fh.readlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        trace = parse_trace(line, file, lineno, torn=lineno == len(lines) and not line.endswith("\n"))
        if trace is None:
            return  # interrupted write: the resumed run redoes this question
        yield trace


def parse_trace(line: str, file: str | os.PathLike[str], lineno: int, torn: bool = False) -> Trace | None:
    """One JSONL line as a trace; a bad line raises naming the file, the line and the field.

    ``torn``: the line is the file's last and has no newline (a writer killed mid-line, or still
    writing); if it does not parse, that is what it is, and None is returned instead of raising."""
    try:
        trace = Trace.model_validate_json(line)
    except ValidationError as exc:
        if torn:
            return None
        raise DataFormatError(str(file), lineno, str(exc).splitlines()[0]) from exc
    if trace.version != TRACE_VERSION:
        raise DataFormatError(str(file), lineno, f"unsupported trace version {trace.version}", "version")
    return trace


def done_ids(file: str | os.PathLike[str], include_errors: bool = False) -> set[str]:
    """Ids already answered in ``file`` (failed requests are retried unless ``include_errors``)."""
    if not FsPath(file).exists():
        return set()
    return {t.id for t in iter_traces(file) if include_errors or t.error is None}


class TraceWriter:
    """Appends one JSON line per trace and flushes it, so a crash loses at most the line in flight."""

    def __init__(self, file: str | os.PathLike[str], append: bool = True) -> None:
        self.path = FsPath(file)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self._fh = self.path.open("a" if append else "w", encoding="utf-8")

    def _repair_tail(self) -> None:
        # a run killed mid-line leaves a partial last line; drop it before appending
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            self.path.write_bytes(data[: data.rfind(b"\n") + 1])

    def write(self, trace: Trace) -> None:
        self._fh.write(trace.model_dump_json(exclude_none=False) + "\n")
        self._fh.flush()

    def write_all(self, traces: Iterable[Trace]) -> int:
        n = 0
        for t in traces:
            self.write(t)
            n += 1
        return n

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

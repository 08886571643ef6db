"""Request and response bodies of the public API (pydantic validates limits: 422 on violation)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Hard upper bounds of the schema; Settings may lower them further at run time.
MAX_QUESTION_CHARS = 4000
MAX_TOPICS = 10
MAX_NAME_CHARS = 4096
MAX_K = 50
MAX_HOPS = 4


class QARequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    topic_entities: list[str] | None = Field(
        default=None,
        max_length=MAX_TOPICS,
        description="KG entity names; when omitted they are linked from the question",
    )
    k: int | None = Field(default=None, ge=1, le=MAX_K, description="paths to return (default: settings)")
    max_hops: int | None = Field(default=None, ge=1, le=MAX_HOPS)
    backend: Literal["hf", "vllm"] | None = None
    reason: bool = Field(default=True, description="use the LLM second stage when one is configured")
    exclude_topic_answers: bool = Field(
        default=False,
        description="leave the topic entities out of `answers` (a path that walks back to its start, as in "
        "'who acted with X?', is still listed in `paths`)",
    )


class LinkOut(BaseModel):
    entity: str
    mention: str
    method: str
    score: float


class PathOut(BaseModel):
    entities: list[str]
    relations: list[str]
    text: str
    answer: str
    score: float
    verified: bool


class AnswerOut(BaseModel):
    answer: str
    score: float
    path_indexes: list[int] = Field(description="indexes into `paths` of the paths ending in this answer")


class QAResponse(BaseModel):
    question: str
    topic_entities: list[LinkOut]
    answer: str | None = Field(description="the final answer (LLM reasoner or top of the vote)")
    answer_method: Literal["vote", "llm", "none"]
    reasoning: str | None = None
    answers: list[AnswerOut]
    paths: list[PathOut]
    backend: str
    graph_version: int
    timings_ms: dict[str, float]
    request_id: str


class ErrorOut(BaseModel):
    code: str
    message: str
    request_id: str


class GraphLoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=4096, description="a file on the server")
    format: Literal["tsv", "metaqa", "pathquestion", "ntriples"]
    skip_bad: bool = False
    store: Literal["memory", "neo4j"] | None = Field(default=None, description="default: the serving store")


class JobOut(BaseModel):
    id: str
    kind: str
    state: str
    params: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created_at: float
    updated_at: float
    attempts: int
    pid: int | None = Field(default=None, description="worker process while running")


class GraphStatsOut(BaseModel):
    store: str
    entities: int
    triples: int
    relations: int
    graph_version: int
    generator: str | None


class DistillJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["traces", "verify", "train"]
    params: dict[str, str | int | float | bool | list[str]] = Field(
        default_factory=dict, max_length=40, description="options of `kgr distill <kind>` (name: value)"
    )


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in (
        (401, "missing or invalid API key"),
        (403, "the key lacks the needed scope"),
        (413, "body too large"),
        (422, "invalid input"),
        (429, "rate limited (Retry-After)"),
        (503, "over capacity or not ready (Retry-After)"),
    )
}

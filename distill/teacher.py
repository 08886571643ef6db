"""Teacher traces: an LLM reasons over candidate KG paths and cites the ones it uses.

The prompt gives the question, its topic entities and the KG paths within H hops of them (capped); the
teacher answers with a reasoning trace that cites paths as ``<PATH> e0 -> r1 -> e1 </PATH>`` and ends
with ``Answer: X``. Two teachers: any OpenAI-compatible chat-completions endpoint (bounded concurrency,
retries with backoff, every failure recorded as a trace with ``error`` so runs can resume), and a local
transformers checkpoint.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from tqdm import tqdm

from decoding.pathformat import parse_path_text, path_to_text
from distill.traces import Question, Trace, TracePath, TraceWriter
from kg.errors import ModelError
from kg.store import GraphStore
from kg.types import Path

SYSTEM_PROMPT = (
    "You answer questions over a knowledge graph. Reason step by step using ONLY the candidate paths "
    "given. Cite every path you use exactly as written, inside <PATH> ... </PATH> tags, e.g. "
    "<PATH> e0 -> r1 -> e1 </PATH>. A relation ending in _inv is walked backwards. "
    "End with a final line 'Answer: X' where X is one entity name from the graph."
)
_ANSWER = re.compile(r"^\s*Answer\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


def teacher_messages(question: Question, candidates: Sequence[Path]) -> list[dict[str, str]]:
    paths = "\n".join(path_to_text(p) for p in candidates) or "(none found)"
    user = (
        f"Question: {question.question}\nTopic entities: {', '.join(question.topic_entities)}\n"
        f"Candidate paths:\n{paths}\n"
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def parse_answer(text: str) -> str | None:
    found = _ANSWER.findall(text)
    return found[-1].strip() if found else None


def make_trace(question: Question, teacher: str, text: str, usage: dict[str, int] | None = None) -> Trace:
    return Trace(
        id=question.id,
        question=question.question,
        topic_entities=question.topic_entities,
        teacher=teacher,
        text=text,
        paths=[TracePath.of(p) for p in parse_path_text(text)],
        answer=parse_answer(text),
        gold_answers=question.answers or None,
        usage=usage or {},
    )


def failed_trace(question: Question, teacher: str, error: str) -> Trace:
    return Trace(
        id=question.id,
        question=question.question,
        topic_entities=question.topic_entities,
        teacher=teacher,
        gold_answers=question.answers or None,
        error=error,
    )


class TeacherRequestError(ModelError):
    """One request failed for good (retries spent, a non-retryable status, or a malformed body)."""


@dataclass
class OpenAITeacher:
    """Chat completions against ``base_url`` (``.../v1``), at most ``concurrency`` requests in flight."""

    base_url: str
    model: str
    api_key: str | None = None
    concurrency: int = 8
    max_retries: int = 5
    timeout_s: float = 60.0
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    temperature: float = 0.0
    max_tokens: int = 512

    @property
    def teacher_id(self) -> str:
        return f"openai:{self.model}"

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after:
            try:
                return min(float(retry_after), self.max_backoff_s)
            except ValueError:
                pass  # an HTTP date: fall back to exponential backoff
        base = min(self.backoff_s * 2**attempt, self.max_backoff_s)
        return base * (0.5 + random.random() / 2)

    async def complete(
        self, client: httpx.AsyncClient, messages: list[dict[str, str]]
    ) -> tuple[str, dict[str, int]]:
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            response: httpx.Response | None = None
            try:
                response = await client.post("/chat/completions", json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return self._parse(response)
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in RETRY_STATUS:
                    raise TeacherRequestError(last)
            if attempt < self.max_retries:
                await asyncio.sleep(self._delay(attempt, response))
        raise TeacherRequestError(f"gave up after {self.max_retries + 1} attempts: {last}")

    @staticmethod
    def _parse(response: httpx.Response) -> tuple[str, dict[str, int]]:
        try:
            data = response.json()
            text = data["choices"][0]["message"]["content"]
            if not isinstance(text, str):
                raise TypeError("content is not a string")
        except (json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            raise TeacherRequestError(f"malformed response: {type(exc).__name__}: {exc}") from exc
        usage = data.get("usage") or {}
        keys = ("prompt_tokens", "completion_tokens", "total_tokens")
        return text, {k: int(usage[k]) for k in keys if isinstance(usage.get(k), int)}

    async def run_async(
        self,
        jobs: Sequence[tuple[Question, list[dict[str, str]]]],
        writer: TraceWriter,
        progress: bool = True,
    ) -> dict[str, int]:
        counts = {"ok": 0, "failed": 0, "prompt_tokens": 0, "completion_tokens": 0}
        gate = asyncio.Semaphore(self.concurrency)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        bar = tqdm(total=len(jobs), desc="teacher", unit="q", disable=not progress)
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(
            base_url=self.base_url.rstrip("/"), headers=headers, timeout=self.timeout_s, limits=limits
        ) as client:

            async def one(question: Question, messages: list[dict[str, str]]) -> None:
                async with gate:
                    try:
                        text, usage = await self.complete(client, messages)
                        trace = make_trace(question, self.teacher_id, text, usage)
                        counts["ok"] += 1
                        counts["prompt_tokens"] += usage.get("prompt_tokens", 0)
                        counts["completion_tokens"] += usage.get("completion_tokens", 0)
                    except TeacherRequestError as exc:
                        trace = failed_trace(question, self.teacher_id, str(exc))
                        counts["failed"] += 1
                writer.write(trace)  # one event loop thread: writes never interleave
                bar.update(1)

            await asyncio.gather(*(one(q, m) for q, m in jobs))
        bar.close()
        return counts

    def run(
        self,
        jobs: Sequence[tuple[Question, list[dict[str, str]]]],
        writer: TraceWriter,
        progress: bool = True,
    ) -> dict[str, int]:
        return asyncio.run(self.run_async(jobs, writer, progress))


@dataclass
class LocalTeacher:
    """A transformers checkpoint directory as teacher (chat template when the tokenizer has one)."""

    model_dir: str
    max_new_tokens: int = 256
    do_sample: bool = False
    temperature: float = 0.7
    device: str = "cpu"

    def __post_init__(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer: Any = AutoTokenizer.from_pretrained(self.model_dir)
        model: Any = AutoModelForCausalLM.from_pretrained(self.model_dir)
        self.model: Any = model.to(self.device).eval()

    @property
    def teacher_id(self) -> str:
        return f"local:{self.model_dir}"

    def _prompt_ids(self, messages: list[dict[str, str]]) -> Any:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )["input_ids"]
        text = "\n\n".join(m["content"] for m in messages) + "\n\n"
        return self.tokenizer(text, return_tensors="pt")["input_ids"]

    def complete(self, messages: list[dict[str, str]]) -> tuple[str, dict[str, int]]:
        import torch

        ids = self._prompt_ids(messages).to(self.device)
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample}
        if self.do_sample:
            kwargs["temperature"] = self.temperature
        with torch.no_grad():
            out = self.model.generate(ids, pad_token_id=self.tokenizer.pad_token_id, **kwargs)
        new = out[0, ids.shape[1] :]
        text = self.tokenizer.decode(new, skip_special_tokens=False)
        eos = self.tokenizer.eos_token
        text = text.split(eos)[0] if eos else text
        usage = {"prompt_tokens": int(ids.shape[1]), "completion_tokens": int(new.shape[0])}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return text, usage

    def run(
        self,
        jobs: Sequence[tuple[Question, list[dict[str, str]]]],
        writer: TraceWriter,
        progress: bool = True,
    ) -> dict[str, int]:
        counts = {"ok": 0, "failed": 0, "prompt_tokens": 0, "completion_tokens": 0}
        for question, messages in tqdm(jobs, desc="teacher", unit="q", disable=not progress):
            started = time.perf_counter()
            text, usage = self.complete(messages)
            usage["ms"] = int((time.perf_counter() - started) * 1000)
            writer.write(make_trace(question, self.teacher_id, text, usage))
            counts["ok"] += 1
            counts["prompt_tokens"] += usage["prompt_tokens"]
            counts["completion_tokens"] += usage["completion_tokens"]
        return counts


def teacher_jobs(
    store: GraphStore, questions: Sequence[Question], hops: int, max_candidates: int, skip: set[str]
) -> list[tuple[Question, list[dict[str, str]]]]:
    """Prompt messages for every question not in ``skip`` (candidate paths from ``store.paths_from``)."""
    jobs = []
    for q in questions:
        if q.id in skip:
            continue
        candidates = store.paths_from(q.topic_entities, hops, max_candidates)
        jobs.append((q, teacher_messages(q, candidates)))
    return jobs

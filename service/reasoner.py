"""Optional second stage: a general LLM behind an OpenAI-compatible endpoint reasons over the K paths.

Without it the answer is the generator's score-weighted vote (``GenerationResult.answers``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from decoding.types import ScoredPath
from kg.settings import Settings
from service.errors import UpstreamError

SYSTEM_PROMPT = (
    "You answer questions using only the knowledge-graph reasoning paths given. Each path is a chain "
    "'entity -> relation -> entity'; a relation ending in _inv is walked backwards. Reply with the answer "
    "entity name(s) first, on the first line, then one short sentence of justification naming the path."
)


def build_messages(question: str, paths: Sequence[ScoredPath]) -> Any:
    lines = [f"{i}. {p.path.text()} (score {p.score:.3f})" for i, p in enumerate(paths, start=1)]
    user = f"Reasoning paths:\n{chr(10).join(lines) or '(none found)'}\n\nQuestion: {question}\nAnswer:"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


class Reasoner:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        http_client: Any = None,
    ) -> None:
        from openai import AsyncOpenAI

        self.model = model
        self._client = AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "unused",
            timeout=timeout_s,
            http_client=http_client,
            max_retries=1,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Reasoner | None:
        if not settings.reasoner_url:
            return None
        key = settings.reasoner_api_key.get_secret_value() if settings.reasoner_api_key else None
        model = settings.reasoner_model or "default"
        return cls(settings.reasoner_url, model, key, settings.reasoner_timeout_s)

    async def answer(self, question: str, paths: Sequence[ScoredPath]) -> str:
        try:
            reply: Any = await self._client.chat.completions.create(
                model=self.model,
                messages=build_messages(question, paths),
                temperature=0.0,
            )
        except Exception as exc:
            raise UpstreamError(f"the reasoner at {self._client.base_url} failed: {exc}") from exc
        return str(reply.choices[0].message.content or "").strip()

    async def stream(self, question: str, paths: Sequence[ScoredPath]) -> AsyncIterator[str]:
        try:
            chunks: Any = await self._client.chat.completions.create(
                model=self.model,
                messages=build_messages(question, paths),
                temperature=0.0,
                stream=True,
            )
            async for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield str(chunk.choices[0].delta.content)
        except Exception as exc:
            raise UpstreamError(f"the reasoner at {self._client.base_url} failed: {exc}") from exc

    async def close(self) -> None:
        await self._client.close()

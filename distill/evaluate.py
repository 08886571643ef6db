"""Evaluate a student on a question file: Hits@1, F1, faithfulness and grounding of its paths, latency.

- ``hits@1``: the top answer (score-weighted vote over the returned paths) is a gold answer.
- ``f1``: over the set of all answers the returned paths vote for (as GCR/RoG count it) vs the gold set.
- ``faithful_path_rate``: share of returned paths that exist in the KG, re-checked here with
  ``store.has_path`` (never trusting the generator's own flag).
- ``answer_grounded_rate``: share of returned answers that end a returned path that exists in the KG.
- ``exclude_topic_answers``: rank answers with the question's topic entities left out, before Hits@1
  and F1 (MetaQA's convention: its answer sets never hold the topic, e.g. a writer who directed their
  own film; EmbedKGQA's MetaQA evaluation takes the next answer when the top one is the head entity).
  The strict figures are then also reported, as ``hits@1_with_topic`` and ``f1_with_topic``.
- ``latency_ms_p50``/``p95``: wall time of the ``generate`` call a question was in (``batch_size`` 1
  gives per-question latency; larger batches give throughput at the cost of latency).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from decoding.pathformat import EntityScoring
from decoding.types import GenerationRequest, GenerationResult, PathGenerator
from distill.traces import Question
from distill.verify import normalize_name
from kg.errors import ConfigError
from kg.store import GraphStore


def open_generator(
    backend: str,
    student: str,
    store: GraphStore,
    device: str = "cpu",
    entity_scoring: EntityScoring = "relative",
    min_beams: int = 1,
) -> PathGenerator:
    """The generator for ``backend`` (hf | vllm), built over ``store``; beam search ``max(k, min_beams)``
    wide."""
    if backend == "hf":
        from decoding.hf_backend import HFPathGenerator

        return HFPathGenerator(
            student,
            store,
            index=None,
            strategy="lazy",
            device=device,
            entity_scoring=entity_scoring,
            min_beams=min_beams,
        )
    if backend == "vllm":
        from decoding.vllm_backend import VllmPathGenerator

        return VllmPathGenerator(student, store, entity_scoring=entity_scoring, min_beams=min_beams)
    raise ConfigError(f"unknown backend {backend!r}; expected hf or vllm")


def answer_scores(ranked: Sequence[str], gold: Sequence[str]) -> tuple[float, float]:
    """(hit, F1) of ranked answer names against the gold answers."""
    gold_keys = {normalize_name(g) for g in gold}
    predicted = {normalize_name(a) for a in ranked}
    hit = bool(ranked) and normalize_name(ranked[0]) in gold_keys
    overlap = len(predicted & gold_keys)
    precision = overlap / len(predicted) if predicted else 0.0
    recall = overlap / len(gold_keys) if gold_keys else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return float(hit), f1


def question_scores(
    result: GenerationResult, gold: Sequence[str], store: GraphStore, exclude_topic_answers: bool = False
) -> dict[str, float]:
    """Per-question counts that ``evaluate`` sums (paths and answers are counted, not averaged)."""
    ranked = [h.answer for h in result.answers]
    hit, f1 = answer_scores(ranked, gold)
    scores = {"hit_with_topic": hit, "f1_with_topic": f1}
    if exclude_topic_answers:
        topics = {normalize_name(t) for t in result.request.topic_entities}
        hit, f1 = answer_scores([a for a in ranked if normalize_name(a) not in topics], gold)
    real = [sp for sp in result.paths if store.has_path(sp.path)]
    ends = {normalize_name(sp.path.end) for sp in real}
    grounded = sum(1 for h in result.answers if normalize_name(h.answer) in ends)
    return {
        **scores,
        "hit": hit,
        "f1": f1,
        "paths": float(len(result.paths)),
        "faithful_paths": float(len(real)),
        "answers": float(len(result.answers)),
        "grounded_answers": float(grounded),
    }


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def evaluate(
    generator: PathGenerator,
    store: GraphStore,
    questions: Sequence[Question],
    k: int = 5,
    hops: int = 2,
    constrained: bool = True,
    batch_size: int = 8,
    progress: bool = True,
    predictions: list[dict[str, Any]] | None = None,
    exclude_topic_answers: bool = False,
) -> dict[str, Any]:
    """Run every question through ``generator`` in batches and return the metrics (one JSON object)."""
    totals: dict[str, float] = {}
    latencies: list[float] = []
    started = time.perf_counter()
    bar = tqdm(total=len(questions), desc="eval", unit="q", disable=not progress)
    for lo in range(0, len(questions), batch_size):
        batch = questions[lo : lo + batch_size]
        requests = [
            GenerationRequest(
                q.question, tuple(q.topic_entities), k=k, max_hops=hops, constrained=constrained
            )
            for q in batch
        ]
        t0 = time.perf_counter()
        results = generator.generate(requests)
        ms = (time.perf_counter() - t0) * 1000
        for q, result in zip(batch, results, strict=True):
            scores = question_scores(result, q.answers, store, exclude_topic_answers)
            for key, value in scores.items():
                totals[key] = totals.get(key, 0.0) + value
            latencies.append(ms)
            if predictions is not None:
                predictions.append(
                    {
                        "id": q.id,
                        "answers": [h.answer for h in result.answers],
                        "gold": q.answers,
                        "paths": [sp.to_json() for sp in result.paths],
                        "hit": bool(scores["hit"]),
                    }
                )
        bar.update(len(batch))
    bar.close()
    n = len(questions)
    paths, answers = totals.get("paths", 0.0), totals.get("answers", 0.0)

    def mean(key: str) -> float:
        return round(totals.get(key, 0.0) / n, 4) if n else 0.0

    strict = {"hits@1_with_topic": mean("hit_with_topic"), "f1_with_topic": mean("f1_with_topic")}
    return {
        "n": n,
        "hits@1": mean("hit"),
        "f1": mean("f1"),
        "exclude_topic_answers": exclude_topic_answers,
        **(strict if exclude_topic_answers else {}),
        # no path returned at all: the rates are undefined (null), not perfect
        "faithful_path_rate": round(totals.get("faithful_paths", 0.0) / paths, 4) if paths else None,
        "answer_grounded_rate": round(totals.get("grounded_answers", 0.0) / answers, 4) if answers else None,
        "paths_returned": int(paths),
        "answers_returned": int(answers),
        "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else 0.0,
        "latency_ms_p95": round(_pct(latencies, 0.95), 1),
        "seconds": round(time.perf_counter() - started, 1),
        "k": k,
        "hops": hops,
        "constrained": constrained,
        "batch_size": batch_size,
        "backend": getattr(generator, "backend", "?"),
    }

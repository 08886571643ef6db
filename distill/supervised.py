"""KG-supervised traces: KG paths from the topic entities to the gold answers.

When the data set annotates the question's relation chain (MetaQA's question type, PathQuestion's gold
path), the target paths are the KG paths along that chain ending at gold answers. Otherwise they are
shortest topic -> answer paths (what GCR and RoG train on), of the relation chain whose full set of end
entities best matches the gold answers (F1), so a chain that reaches an answer by chance is not taught.

An annotated chain that reaches no gold answer as a path falls back to those shortest paths when
``chain_fallback`` is on (the default): right for a complete KB whose gold walks step straight back over
a triple (PathQuestion's PQL: ``A -r-> B -r_inv-> A`` is no path, the shortest path is the shortcut that
means the same). Off, the question gets no trace: right for a KB copy missing triples (MetaQA's here),
where the shortest path to an answer is another chain, one the question does not ask for.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Iterator

from tqdm import tqdm

from decoding.pathformat import path_to_text
from distill.traces import Question, Trace, TracePath
from kg.memory_store import MemoryStore
from kg.store import GraphStore
from kg.types import Path

SUPERVISED_TEACHER = "kg-supervised"
CYCLE_SEARCH_LIMIT = 20_000
MAX_TARGETS = 16
PATH_POOL = 256
CHAIN_LIMIT = 20_000  # partial paths kept per step when following a chain
CHAINS_SCORED = 4  # candidate chains whose full end sets are compared with the gold answers


def supervised_trace(
    store: GraphStore, question: Question, max_hops: int, max_paths: int, chain_fallback: bool = True
) -> Trace:
    """One trace with at most ``max_paths`` topic -> answer paths; error if none."""
    annotated = bool(question.relation_path) and len(question.relation_path or ()) <= max_hops
    paths = gold_chain_paths(store, question, max_paths) if annotated else []
    if paths or (annotated and not chain_fallback):
        error = f"annotated relation chain {question.relation_path} reaches no gold answer in the KB"
    else:
        paths = _shortest_supervision(store, question, max_hops, max_paths)
        error = f"no path within {max_hops} hops from topic to any answer"
    answer = paths[0].end if paths else None
    text = "\n".join(path_to_text(p) for p in paths) + (f"\nAnswer: {answer}" if answer else "")
    return Trace(
        id=question.id,
        question=question.question,
        topic_entities=question.topic_entities,
        teacher=SUPERVISED_TEACHER,
        text=text,
        paths=[TracePath.of(p) for p in paths],
        answer=answer,
        gold_answers=question.answers,
        error=None if paths else error,
    )


def gold_chain_paths(store: GraphStore, question: Question, max_paths: int) -> list[Path]:
    """Paths along the annotated relation chain that end at gold answers, one per answer in turn.

    Empty when the chain reaches no gold answer (a KB missing triples).
    """
    assert question.relation_path
    gold = set(question.answers)
    found = [
        p
        for p in store.chain_paths(question.topic_entities, question.relation_path, CHAIN_LIMIT)
        if p.end in gold
    ]
    by_end: dict[str, list[Path]] = {}
    for p in found:
        by_end.setdefault(p.end, []).append(p)
    return _round_robin(list(by_end.values()), max_paths)  # distinct answers first


def _shortest_supervision(store: GraphStore, question: Question, max_hops: int, max_paths: int) -> list[Path]:
    # a sample of the answers as targets: many-answer questions (MetaQA 3-hop) otherwise enumerate every
    # shortest path to dozens of answers
    targets = question.answers[:MAX_TARGETS]
    paths = store.shortest_paths(question.topic_entities, targets, max_hops, PATH_POOL)
    if not paths and set(question.topic_entities) & set(question.answers):
        paths = _cycles_home(store, question, max_hops, max_paths)
    return dominant_paths(paths, max_paths, store, question)


def dominant_paths(
    paths: list[Path], max_paths: int, store: GraphStore | None = None, question: Question | None = None
) -> list[Path]:
    """Paths of the relation chain(s) that best explain the answers, one chain after another in turn.

    Shortest paths in sort order favour alphabetically early relations, which would teach the student
    a relation by its name, not by the question. The chain that explains most answers is the one the
    question asks for (an actor shared by chance explains one answer, the director explains all). With
    the store and question, the few chains reaching most answers are followed in full and ranked by F1
    of their end entities against the gold answers: of two chains reaching the one answer, the one that
    reaches nothing else wins.
    """
    by_chain: dict[tuple[str, ...], list[Path]] = {}
    for p in paths:
        by_chain.setdefault(p.relations, []).append(p)
    if not by_chain:
        return []
    cover: dict[tuple[str, ...], float] = {chain: len({p.end for p in ps}) for chain, ps in by_chain.items()}
    if store is not None and question is not None and question.answers and len(cover) > 1:
        gold = set(question.answers)
        candidates = sorted(cover, key=lambda c: (-cover[c], c))[:CHAINS_SCORED]
        cover = {}
        for chain in candidates:
            ends = {p.end for p in store.chain_paths(question.topic_entities, chain, CHAIN_LIMIT)}
            cover[chain] = 2 * len(ends & gold) / (len(ends) + len(gold)) if ends else 0.0
    best = max(cover.values())
    chains = [by_chain[c] for c in sorted(cover) if cover[c] == best]
    return _round_robin(chains, max_paths)  # tied chains all get represented


def _round_robin(groups: list[list[Path]], max_paths: int) -> list[Path]:
    """The first path of every group, then the second of every group, ... (at most ``max_paths``)."""
    out: list[Path] = []
    for i in range(max((len(g) for g in groups), default=0)):
        out += [g[i] for g in groups if i < len(g)]
    return out[:max_paths]


def _cycles_home(store: GraphStore, question: Question, max_hops: int, max_paths: int) -> list[Path]:
    """Answer == topic ("the child of X's parent" is X): shortest_paths skips s == t, so walk round."""
    home = set(question.topic_entities) & set(question.answers)
    found = [p for p in store.paths_from(sorted(home), max_hops, CYCLE_SEARCH_LIMIT) if p.end == p.start]
    shortest = min((p.hops for p in found), default=0)
    return [p for p in found if p.hops == shortest][:max_paths]


_FORKED_STORE: GraphStore | None = None  # the store a forked worker inherits


def _forked_trace(job: tuple[Question, int, int, bool]) -> Trace:
    assert _FORKED_STORE is not None
    return supervised_trace(_FORKED_STORE, *job)


def supervised_traces(
    store: GraphStore,
    questions: Iterable[Question],
    max_hops: int = 3,
    max_paths: int = 8,
    skip: set[str] | None = None,
    progress: bool = True,
    workers: int = 1,
    chain_fallback: bool = True,
) -> Iterator[Trace]:
    """Traces in question order; ``workers`` > 1 forks processes sharing an in-process store."""
    global _FORKED_STORE
    skip = skip or set()
    todo = [q for q in questions if q.id not in skip]
    bar = tqdm(total=len(todo), desc="shortest paths", unit="q", disable=not progress)
    if workers <= 1 or not isinstance(store, MemoryStore) or len(todo) < 64:
        for q in todo:
            yield supervised_trace(store, q, max_hops, max_paths, chain_fallback)
            bar.update(1)
    else:
        _ = store.walk_graph  # built once before the fork, shared copy-on-write
        _FORKED_STORE = store
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                jobs = ((q, max_hops, max_paths, chain_fallback) for q in todo)
                for trace in pool.imap(_forked_trace, jobs, chunksize=16):
                    yield trace
                    bar.update(1)
        finally:
            _FORKED_STORE = None
    bar.close()

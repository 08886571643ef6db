"""The demo: the committed PathQuestion cut in the store, and a small student trained on it once.

``ensure_demo`` is idempotent: the graph is loaded only into an empty store and the student is trained
only when its directory holds no finished model (an interrupted training resumes from its checkpoint).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from kg.factory import open_store
from kg.loaders import load_file
from kg.memory_store import MemoryStore
from kg.settings import Settings
from kg.store import GraphStore

DEMO_DIR = Path(__file__).resolve().parent / "demo"
DEMO_KB = DEMO_DIR / "kb.tsv"
DEMO_QUESTIONS = DEMO_DIR / "questions.jsonl"
log = logging.getLogger("kgr.demo")

# About 4 minutes on an idle 2-core CPU (1,200 steps, progress bar): 2 layers, 128 wide (head_dim 64 for
# vLLM's CPU backend). Measured on the grouped PQ-2H test split (paths unseen in training), k=3:
# Hits@1 0.59, faithful paths 100% (docs/BENCHMARKS.md).
DEMO_TRAINING = {
    "vocab_size": 2000,
    "hidden_size": 128,
    "layers": 2,
    "heads": 2,
    "intermediate": 384,
    "max_steps": 1200,
    "batch_size": 32,
    "lr": 3e-3,
    "max_paths_per_trace": 2,
    "save_steps": 200,
}


def demo_student_dir(settings: Settings) -> Path:
    return settings.student_dir or settings.data_dir / "demo-student"


def student_ready(student_dir: Path) -> bool:
    return (student_dir / "config.json").exists() and (student_dir / "train_summary.json").exists()


def load_demo_graph(store: GraphStore) -> None:
    if store.stats().triples:
        return
    if isinstance(store, MemoryStore):
        with store.transaction():
            load_file(store, DEMO_KB, "tsv")
            if store.file is not None:
                store.save()
    else:
        load_file(store, DEMO_KB, "tsv")


def train_demo_student(
    store: GraphStore, student_dir: Path, progress: bool = False, **overrides: object
) -> dict[str, object]:
    """Supervised traces (KG paths to the gold answers, along the annotated chain), verified; a student."""
    from distill.student_init import student_texts_from_store
    from distill.supervised import supervised_traces
    from distill.traces import read_questions
    from distill.train import TrainConfig, train
    from distill.verify import Verifier

    questions = read_questions(DEMO_QUESTIONS)
    traces = list(Verifier(store).verify_all(supervised_traces(store, questions, 2, 4, progress=progress)))
    texts = list(
        student_texts_from_store(
            store, [q.question for q in questions], [q.topic_entities for q in questions]
        )
    )
    options: dict[str, object] = {**DEMO_TRAINING, **overrides}
    cfg = TrainConfig(out_dir=str(student_dir), progress=progress, **options)  # type: ignore[arg-type]
    log.info("training the demo student", extra={"out": str(student_dir), "examples": len(traces)})
    return train(cfg, traces, texts)


def ensure_demo(
    settings: Settings, progress: bool = False, training: dict[str, object] | None = None
) -> tuple[GraphStore, Path]:
    """The serving store holding the demo graph, and the directory of a trained demo student
    (``training`` overrides ``DEMO_TRAINING`` options)."""
    store = open_store(settings)
    load_demo_graph(store)
    student_dir = demo_student_dir(settings)
    if not student_ready(student_dir):
        if progress:
            print(f"training the demo student in {student_dir} (first start only) ...", flush=True)
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2))))
        train_demo_student(store, student_dir, progress=progress, **(training or {}))
    return store, student_dir

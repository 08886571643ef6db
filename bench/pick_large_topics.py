"""Pick MetaQA 3-hop dev questions whose topic has many 3-step walks (for the large-topic trie bench).

Usage: python bench/pick_large_topics.py KB.txt QUESTIONS.jsonl OUT.jsonl
Walks are counted by propagating a vector over the walk graph (an upper bound of the count of
non-backtracking walks, the paths);
topics with 70k-140k walks are kept, 6 from the middle of that range and the 6 largest.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from kg.loaders import load_file
from kg.memory_store import MemoryStore


def main(kb: str, questions: str, out: str, hops: int = 3) -> None:
    store = MemoryStore()
    load_file(store, kb, "metaqa")
    graph = store.walk_graph
    n = len(graph.entity_names)
    src = np.repeat(np.arange(n), np.diff(graph.ptr))
    with open(questions, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh][:3000]
    seen: set[str] = set()
    found = []
    for row in rows:
        topic = row["topic_entity"]
        if topic in seen or topic not in store.entity_ids:
            continue
        seen.add(topic)
        v = np.zeros(n)
        v[store.entity_ids[topic]] = 1
        total = 0.0
        for _ in range(hops):
            w = np.zeros(n)
            np.add.at(w, graph.step_dst, v[src])
            v = w
            total += float(v.sum())
        if 70_000 <= total <= 140_000:
            found.append((total, row))
    found.sort(key=lambda f: f[0])
    picked = found[len(found) // 2 :: max(1, len(found) // 20)][:6] + found[-6:]
    with open(out, "w", encoding="utf-8") as fh:
        for _, row in picked:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])

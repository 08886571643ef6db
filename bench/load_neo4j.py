"""Neo4j load benchmark: batched load of the MetaQA KB vs one auto-commit MERGE per triple, then a reload.

    .venv/bin/python bench/load_neo4j.py [--kb ../shared/data/metaqa/kb.txt] [--naive-sample 2000]

Prints one JSON object. The Neo4j database is CLEARED first (the dev server has a single database).
Figures count triples parsed from the file (already validated) and written; the file is parsed once up
front so the timings measure the store, not the parser. Relationship counts come from the driver's
result-summary counters (batched) and from ``stats()``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path as FsPath

import neo4j

from kg import cypher
from kg.loaders import iter_triples
from kg.neo4j_store import Neo4jStore
from kg.settings import get_settings
from kg.types import Triple

REPO = FsPath(__file__).resolve().parents[1]
DEFAULT_KB = REPO / ".." / "shared" / "data" / "metaqa" / "kb.txt"


def process_cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user + system) used so far by a local process, e.g. the Neo4j JVM; None if unknown."""
    if pid is None:
        return None
    try:
        fields = FsPath(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def naive_load(store: Neo4jStore, triples: list[Triple]) -> float:
    """One auto-commit MERGE statement per triple (what a straightforward client does); triples/s."""
    with store._driver.session(database=store.database) as session:  # benchmark only: raw session
        started = time.perf_counter()
        for t in triples:
            session.run(cypher.MERGE_ONE_TRIPLE, head=t.head, relation=t.relation, tail=t.tail).consume()
        return len(triples) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", type=FsPath, default=DEFAULT_KB)
    parser.add_argument("--format", default="metaqa")
    parser.add_argument("--uri", default=None, help="default: KGR_NEO4J_URI")
    parser.add_argument("--batch-size", type=int, default=None, help="default: KGR_NEO4J_BATCH_SIZE")
    parser.add_argument("--naive-sample", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--server-pid", type=int, default=None, help="local Neo4j pid: report its CPU time")
    args = parser.parse_args(argv)
    if not args.kb.exists():
        print(f"KB not found: {args.kb} (expected the shared data beside the repo)", file=sys.stderr)
        return 2

    settings = get_settings()
    if args.batch_size:
        settings = settings.model_copy(update={"neo4j_batch_size": args.batch_size})
    triples = list(iter_triples(args.kb, args.format))
    result: dict[str, object] = {
        "kb": str(args.kb.resolve()),
        "triples_in_file": len(triples),
        "batch_size": settings.neo4j_batch_size,
        "neo4j_driver": neo4j.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    store = Neo4jStore.from_settings(settings, uri=args.uri)
    try:
        store.clear()
        store.ensure_schema()

        cpu_before = process_cpu_s(args.server_pid)
        started = time.perf_counter()
        created = store.add_triples(triples)
        load_s = time.perf_counter() - started
        cpu_after = process_cpu_s(args.server_pid)
        stats = store.stats()
        if cpu_before is not None and cpu_after is not None:
            # what the server itself spent: on a loaded shared VM the wall time also counts waiting for a core
            result["load_server_cpu_seconds"] = round(cpu_after - cpu_before, 2)
            result["triples_per_server_cpu_s"] = round(len(triples) / (cpu_after - cpu_before))
        result |= {
            "load_seconds": round(load_s, 3),
            "load_triples_per_s": round(len(triples) / load_s),
            "load_relationships_created": created,
            "load_nodes_created": store.created["nodes"],
            "stats_after_load": stats.to_json(),
        }

        nodes_before = store.created["nodes"]
        started = time.perf_counter()
        recreated = store.add_triples(triples)
        reload_s = time.perf_counter() - started
        result |= {
            "reload_seconds": round(reload_s, 3),
            "reload_triples_per_s": round(len(triples) / reload_s),
            "reload_relationships_created": recreated,  # summary counters of the reload's transactions
            "reload_nodes_created": store.created["nodes"] - nodes_before,
            "stats_after_reload": store.stats().to_json(),
        }

        # naive baseline on a random sample, into a cleared database (same server, same run)
        sample = random.Random(args.seed).sample(triples, min(args.naive_sample, len(triples)))
        store.clear()
        naive_rate = naive_load(store, sample)
        started = time.perf_counter()
        store.clear()
        batched_sample_created = store.add_triples(sample)
        batched_sample_rate = len(sample) / (time.perf_counter() - started)
        result |= {
            "naive_sample_triples": len(sample),
            "naive_triples_per_s": round(naive_rate),
            "batched_sample_triples_per_s": round(batched_sample_rate),
            "batched_sample_created": batched_sample_created,
            "speedup_full_load_vs_naive": round(len(triples) / load_s / naive_rate, 1),
        }
        store.clear()
    finally:
        store.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``kgr graph load|stats|clear``."""

from __future__ import annotations

import argparse
import json

from kg.factory import open_store
from kg.loaders import FORMATS, load_file
from kg.memory_store import MemoryStore
from kg.settings import Settings


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", choices=["memory", "neo4j"], default=None, help="default: KGR_STORE or memory")
    p.add_argument("--neo4j-uri", default=None, help="default: KGR_NEO4J_URI")
    p.add_argument("--data-dir", default=None, help="where the memory store persists (KGR_DATA_DIR)")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(data_dir=args.data_dir) if args.data_dir else Settings()


def cmd_load(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with open_store(settings, args.store, args.neo4j_uri) as store:
        if isinstance(store, MemoryStore):
            with store.transaction():
                report = load_file(store, args.path, args.format, skip_bad=args.skip_bad, progress=True)
                store.save()
        else:
            report = load_file(store, args.path, args.format, skip_bad=args.skip_bad, progress=True)
        print(json.dumps({**report.to_json(), **store.stats().to_json()}))
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    with open_store(_settings(args), args.store, args.neo4j_uri) as store:
        stats = store.stats()
    if args.json:
        print(json.dumps(stats.to_json()))
    else:
        print(f"entities: {stats.entities}\ntriples: {stats.triples}\nrelations: {stats.relations}")
    return 0


def cmd_clear(args: argparse.Namespace) -> int:
    with open_store(_settings(args), args.store, args.neo4j_uri) as store:
        store.clear()
        if isinstance(store, MemoryStore):
            store.save()
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    graph = sub.add_parser("graph", help="load and inspect knowledge graphs").add_subparsers(
        dest="graph_command", required=True
    )
    load = graph.add_parser("load", help="load a triple file into a store")
    load.add_argument("path")
    load.add_argument("--format", choices=FORMATS, required=True)
    load.add_argument("--skip-bad", action="store_true", help="skip and report bad rows instead of stopping")
    _store_args(load)
    load.set_defaults(func=cmd_load)
    stats = graph.add_parser("stats", help="count entities and triples")
    stats.add_argument("--json", action="store_true")
    _store_args(stats)
    stats.set_defaults(func=cmd_stats)
    clear = graph.add_parser("clear", help="delete every triple of a store")
    _store_args(clear)
    clear.set_defaults(func=cmd_clear)

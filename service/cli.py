"""``kgr``: one entry point; each package registers its own sub-commands."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from kg.errors import KgrError

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _registrars() -> list[Registrar]:
    import importlib

    found = []
    for module in ("kg.cli", "decoding.cli", "distill.cli", "service.serve_cli"):
        try:
            found.append(importlib.import_module(module).register)
        except ModuleNotFoundError as exc:  # a package without commands yet
            if exc.name != module:
                raise
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kgr", description="Knowledge-graph grounded reasoning")
    sub = parser.add_subparsers(dest="command", required=True)
    for register in _registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KgrError as exc:
        print(json.dumps({"error": exc.code, "message": str(exc)}), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

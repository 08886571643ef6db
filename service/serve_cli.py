"""``kgr serve``: run the REST service with uvicorn (``--demo``: demo graph + demo student)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from kg.settings import DEFAULT_QA_KEY, Settings
from service.security import hash_key


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "store", "neo4j_uri", "data_dir", "backend"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if args.student is not None:
        overrides["student_dir"] = Path(args.student)
    if args.demo:
        overrides["demo"] = True
    return Settings(**overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    if args.hash_key is not None:
        print(f"{args.scope}:{hash_key(args.hash_key)}")
        return 0
    import uvicorn

    from service.app import create_app
    from service.logs import configure_logging
    from service.security import check_startup_secrets

    settings = _settings(args)
    check_startup_secrets(settings)  # before any slow work: refuse early
    configure_logging(settings.log_json)
    store = None
    if settings.demo:
        from service.demo import ensure_demo

        store, student_dir = ensure_demo(settings, progress=True)
        settings = settings.model_copy(update={"student_dir": student_dir, "demo": False})
    app = create_app(settings, store=store)
    banner: dict[str, str] = {"serving": f"http://{settings.host}:{settings.port}/", "store": settings.store}
    if settings.qa_api_key.get_secret_value() == DEFAULT_QA_KEY:  # only possible on loopback (checked above)
        banner["qa_api_key"] = f"{DEFAULT_QA_KEY} (dev default; set KGR_QA_API_KEY to change it)"
    print(json.dumps(banner), flush=True)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        access_log=False,  # our middleware logs every request as JSON with its id
        timeout_graceful_shutdown=10,
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the REST service and web page")
    p.add_argument("--host", default=None, help="bind address (KGR_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="KGR_PORT, default 8000")
    p.add_argument("--store", choices=["memory", "neo4j"], default=None, help="KGR_STORE, default memory")
    p.add_argument("--neo4j-uri", default=None)
    p.add_argument("--data-dir", default=None, help="KGR_DATA_DIR, default .data")
    p.add_argument("--student", default=None, help="student model directory (KGR_STUDENT_DIR)")
    p.add_argument("--backend", choices=["hf", "vllm"], default=None)
    p.add_argument(
        "--demo", action="store_true", help="committed demo graph + demo student (trained if missing)"
    )
    p.add_argument("--log-level", default="warning", help="uvicorn's own log level")
    p.add_argument(
        "--hash-key", default=None, metavar="KEY", help="print the hashes-file line for KEY and exit"
    )
    p.add_argument("--scope", choices=["qa", "admin"], default="qa", help="scope for --hash-key")
    p.set_defaults(func=cmd_serve)

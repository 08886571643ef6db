"""Load test of a live ``kgr serve``: 1, 4 and 16 concurrent clients on loopback; prints JSON.

    python bench/load_service.py                      # starts `kgr serve --demo` on a free port
    python bench/load_service.py --url http://127.0.0.1:8000 --key KEY

Each level runs until ``--requests`` answers or ``--seconds`` have passed (whichever first), after a
short warm-up. Questions cycle through the demo test split. Reports QPS, p50/p99 latency and errors.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = REPO / "service" / "demo" / "questions.test.jsonl"
BENCH_KEY = "bench-qa-key-not-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: str, student: str | None) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "KGR_QA_API_KEY": BENCH_KEY,
        "KGR_RATE_LIMIT_PER_MINUTE": "10000000",
        "KGR_RATE_LIMIT_BURST": "100000",
        "KGR_LOG_JSON": "true",
    }
    cmd = [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--data-dir", data_dir]
    cmd += ["--student", student] if student else ["--demo"]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 1800  # the first --demo start trains the demo student
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"kgr serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(1)
    proc.terminate()
    raise SystemExit("kgr serve did not become ready")


def run_level(
    url: str, key: str, clients: int, questions: list[str], max_requests: int, max_s: float, k: int
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    counter = iter(range(10**9))
    stop_at = time.monotonic() + max_s

    def client() -> None:
        with httpx.Client(timeout=120, headers={"Authorization": f"Bearer {key}"}) as http:
            while time.monotonic() < stop_at:
                with lock:
                    i = next(counter)
                if i >= max_requests:
                    return
                t0 = time.perf_counter()
                try:
                    r = http.post(f"{url}/v1/qa", json={"question": questions[i % len(questions)], "k": k})
                    status = str(r.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                elapsed = time.perf_counter() - t0
                with lock:
                    if status == "200":
                        latencies.append(elapsed)
                    else:
                        errors[status] = errors.get(status, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1) if ordered else None

    return {
        "clients": clients,
        "requests_ok": len(latencies),
        "errors": errors,
        "seconds": round(wall, 2),
        "qps": round(len(latencies) / wall, 2) if wall else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running service; default: start `kgr serve --demo`")
    ap.add_argument("--key", default=BENCH_KEY, help="QA API key for --url")
    ap.add_argument("--data-dir", default=str(REPO / ".data"), help="for the started server (demo student)")
    ap.add_argument("--student", help="serve this student instead of the demo one")
    ap.add_argument("--levels", default="1,4,16")
    ap.add_argument("--requests", type=int, default=160, help="max requests per level")
    ap.add_argument("--seconds", type=float, default=60.0, help="max seconds per level")
    ap.add_argument("--k", type=int, default=3)
    args = ap.parse_args()
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    proc = None
    url, key = args.url, args.key
    if url is None:
        proc, url = start_server(args.data_dir, args.student)
    try:
        run_level(url, key, 2, questions, 8, 30, args.k)  # warm-up
        levels = [
            run_level(url, key, int(n), questions, args.requests, args.seconds, args.k)
            for n in args.levels.split(",")
        ]
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    batches = [line for line in metrics.splitlines() if line.startswith("kgr_batch_size_")]
    first, last = levels[0]["qps"], levels[-1]["qps"]
    print(
        json.dumps(
            {
                "bench": "service_load",
                "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                "k": args.k,
                "levels": levels,
                "speedup_last_vs_first": round(last / first, 2) if first else None,
                "batch_size_metrics": batches[-2:],
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

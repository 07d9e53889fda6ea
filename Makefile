# Two commands for a fresh machine:
#   make study   set up .venv and run the default study (snakemake --cores all)
#   make test    set up .venv and run the test suite
# Both reuse .venv once it exists. Override the torch requirement for your machine, e.g.
#   make study TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup study test report clean

setup: $(STAMP)

# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build on Linux.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[test,slurm]"
	touch $(STAMP)

study: $(STAMP)
	$(BIN)/snakemake --cores all

test: $(STAMP)
	$(BIN)/python -m pytest -q

report: $(STAMP)
	$(BIN)/snakemake --report report.html

clean:
	rm -rf data/pool data/pool.json data/shards results logs report.html

# The developer loop, one command each. `make help` lists them.
PYTHON ?= python3.10
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup model run browser test bench lint eval-nlu clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.10 (pyenv reads .python-version)"; exit 1; }
	@command -v msgfmt >/dev/null || { echo "installing GNU gettext (msgfmt) for the catalog checks"; \
	  (apt-get update -qq && apt-get install -y -qq gettext) >/dev/null 2>&1 || echo "could not install gettext: catalog checks will skip msgfmt"; }
	@command -v dot >/dev/null || { echo "installing Graphviz (dot) for the flow pictures"; \
	  (apt-get update -qq && apt-get install -y -qq graphviz) >/dev/null 2>&1 || echo "could not install graphviz: flow pictures fall back to Mermaid text"; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip wheel
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)  ## create .venv with Python 3.10 and the pinned dependencies

model: setup  ## compile the catalogs, bring the database to the newest schema, train if needed
	$(BIN)/kyr i18n compile
	$(BIN)/kyr db upgrade
	$(BIN)/kyr train

run: model  ## set everything up and chat in the terminal (SQLite in data/)
	$(BIN)/kyr chat

browser:  ## Debian's chromium for the console's browser test (make test; not needed to run)
	@command -v chromium >/dev/null || { echo "installing Debian's chromium for the console's browser test"; \
	  (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || echo "could not install chromium: the browser test will skip"; }

test: model browser  ## set everything up and run the whole suite
	$(BIN)/kyr content check
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: model  ## benchmark the engine and kyr serve against stock Rasa, and a 10,000-subscriber alert (prints tables)
	$(BIN)/python -m tests.bench.run
	$(BIN)/python -m tests.bench.serving
	$(BIN)/python -m tests.bench.broadcast

eval-nlu: model  ## NLU accuracy per language: held-out, 5-fold cross-validation, PNG in build/eval
	$(BIN)/kyr eval-nlu --folds 5

lint: setup  ## ruff and mypy
	$(BIN)/python -m pip install --quiet ruff==0.14.6 mypy==1.18.2 types-PyYAML==6.0.12.20250915
	$(BIN)/ruff check bot tests
	$(BIN)/mypy bot

clean:  ## remove the model, build files and local data (keeps .venv)
	rm -rf build data

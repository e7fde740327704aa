VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test setup bench clean

# The main job: sandbox + gateway + assistant on the bundled sample knowledge base.
demo:
	@bash scripts/bootstrap.sh
	$(BIN)/larkdou demo

# The test suite; installs what it needs (venv, pinned packages, redis-server, chromium).
test:
	@bash scripts/bootstrap.sh --test
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 3 --dist loadfile

setup:
	@bash scripts/bootstrap.sh --test

bench:
	@bash scripts/bootstrap.sh --test
	$(BIN)/python bench/drain.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/decision.py

clean:
	rm -rf $(VENV) workdir .pytest_cache

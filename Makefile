# The two commands of the README: `make repro` (the main job) and `make test`.
# Both set everything up first and can be run again at any time.
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: repro test bench lint setup data

repro: setup data  ## the full default pipeline
	dvc repro

test: setup data  ## unit and end-to-end tests, then ruff
	python -m pytest
	ruff check .

bench: setup data  ## the speed benchmark; writes benchmarks/RESULTS.md
	python -m benchmarks.bench

lint: setup
	ruff check .

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

data:
	@sh scripts/ensure-data.sh

# The two commands of the README: `make repro` (the main job) and `make test`.
# Both set everything up first and can be run again at any time.
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# The quick loop: the whole pipeline on 2,000 images, one seed, one judge and one epoch per model
# (the models dvc.yaml declares), as a scratch experiment that leaves the workspace alone.
QUICK := -S data.limit=2000 -S 'seeds=[1]' -S 'judge.seeds=[1]' -S judge.epochs=1 \
	-S evaluate.iw_samples=10 -S paths.pairs=50 -S ae.epochs=1 -S vae.epochs=1 -S ae_wide.epochs=1 \
	-S vae_nokl.epochs=1 -S wae.epochs=1

.PHONY: repro test quick check-results bench lint setup data sshd

repro: setup data  ## the full default pipeline
	dvc repro

test: setup data sshd  ## unit and end-to-end tests, then ruff
	python -m pytest
	ruff check .

quick: setup data  ## a scratch experiment on a small subset; add params with ARGS="-S vae.lr=0.003"
	dvc exp run --temp $(QUICK) $(ARGS)

check-results: setup  ## does this workspace's run agree with the committed one?
	python -m scripts.check_results

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

sshd:
	@sh scripts/ensure-sshd.sh

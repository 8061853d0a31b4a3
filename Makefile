# The two commands of the README: `make repro` (the main job) and `make test`.
# Both set everything up first and can be run again at any time.
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# The quick loop: the whole pipeline on 2,000 images, one seed, one judge and one epoch per model
# (the models dvc.yaml declares), as an experiment run in a scratch clone of the workspace: the
# workspace itself is never written (docs/sweeps.md); python -B: not even bytecode caches.
QUICK := -S data.limit=2000 -S 'seeds=[1]' -S 'judge.seeds=[1]' -S judge.epochs=1 \
	-S evaluate.iw_samples=10 -S paths.pairs=50 -S ae.epochs=1 -S vae.epochs=1 -S ae_wide.epochs=1

# Sweeps (docs/sweeps.md): GRID in `dvc exp run -S` syntax, ON=local (DVC's queue) or ON=slurm
# (one job array; sbatch options from SLURM_CONFIG if it exists, then SBATCH), JOBS at once.
ON ?= local
JOBS ?= 2
SLURM_CONFIG ?= slurm.yaml

.PHONY: repro test quick sweep sweep-report check-results bench lint setup data sshd slurm

repro: setup data  ## the full default pipeline
	dvc repro

test: setup data sshd slurm  ## unit and end-to-end tests, then ruff
	python -m pytest
	ruff check .

quick: setup data  ## a small experiment of the workspace as it is; NAME=..., ARGS="-S vae.lr=0.003"
	python -B -m scripts.sweep quick $(if $(NAME),--name "$$NAME") $(QUICK) $(ARGS)

sweep: setup  ## a grid of experiments: GRID="-S vae.lr=0.0003,0.001,0.003" ON=local|slurm JOBS=2
	python -B -m scripts.sweep submit --on "$(ON)" --jobs "$(JOBS)" --sbatch="$$SBATCH" \
		$(if $(wildcard $(SLURM_CONFIG)),--sbatch-config "$(SLURM_CONFIG)") $(GRID)

sweep-report: setup  ## reports/sweep/ from the experiments (those of GRID when given)
	python -B -m scripts.sweep report $(GRID)

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

slurm:
	@sh scripts/ensure-slurm.sh

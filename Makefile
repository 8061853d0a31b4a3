# The two commands of the README: `make repro` (the main job) and `make test`.
# Both set everything up first and can be run again at any time.
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# The quick loop: the whole pipeline on 2,000 images, one seed, one judge and one epoch per model
# (the models dvc.yaml declares), as an experiment run in a scratch clone of the workspace: the
# workspace itself is never written (docs/sweeps.md); python -B: not even bytecode caches.
QUICK := -S data.limit=2000 -S 'seeds=[1]' -S 'judge.seeds=[1]' -S judge.epochs=1 \
	-S evaluate.iw_samples=10 -S interpolate.pairs=50 \
	-S ae.epochs=1 -S vae.epochs=1 -S ae_wide.epochs=1 -S vae_nokl.epochs=1 -S wae.epochs=1

# `dvc exp show` with a column per param that differs and none for the metrics (named by the
# last part of their key), the dependency hashes (columns named by path) or the time: DVC's tree
# of runs and what each changed, in a terminal's width (tests/test_compare.py checks the
# pattern against the headline metrics, the verdicts and the params).
empty :=
space := $(empty) $(empty)
METRIC_KEYS := test_bce log_likelihood codes_in_square coverage classes_present \
	inception_score precision frechet_distance path_evenness path_middle_precision \
	kinds smooth realistic
METRIC_COLUMNS := judge_accuracy|.*\.($(subst $(space),|,$(strip $(METRIC_KEYS))))(_own)?$$
EXP_SHOW_DROP := Created|.*/.*|maps$$|runs$$|$(METRIC_COLUMNS)

# Sweeps (docs/sweeps.md): GRID in `dvc exp run -S` syntax, ON=local (DVC's queue) or ON=slurm
# (one job array; sbatch options from SLURM_CONFIG if it exists, then SBATCH), JOBS at once.
ON ?= local
JOBS ?= 2
SLURM_CONFIG ?= slurm.yaml

.PHONY: repro test test-fast quick sweep sweep-report compare exps check-results readme-graph \
	plots-template bench lint setup data sshd slurm

repro: setup data  ## the full default pipeline
	dvc repro

test: setup data sshd slurm  ## unit and end-to-end tests, then ruff
	python -m pytest
	ruff check .

test-fast: setup data  ## the tests without the end-to-end ones (pytest -m "not e2e"), then ruff
	python -m pytest -m "not e2e"
	ruff check .

quick: setup data  ## a small experiment of the workspace as it is; NAME=..., ARGS="-S vae.lr=0.003"
	python -B -m scripts.sweep quick $(if $(NAME),--name "$$NAME") $(QUICK) $(ARGS)

sweep: setup  ## a grid of experiments: GRID="-S vae.lr=0.0003,0.001,0.003" ON=local|slurm JOBS=2
	python -B -m scripts.sweep submit --on "$(ON)" --jobs "$(JOBS)" --sbatch="$$SBATCH" \
		$(if $(wildcard $(SLURM_CONFIG)),--sbatch-config "$(SLURM_CONFIG)") $(GRID)

sweep-report: setup  ## reports/sweep/ from the experiments (those of GRID when given)
	python -B -m scripts.sweep report $(GRID)

compare: setup  ## the workspace and experiments in 100 columns; EXPS="exp-a exp-b", ARGS=-A
	python -m scripts.compare $(EXPS) $(ARGS)

exps: setup  ## DVC's table of experiments: each run and the params it changed; ARGS="-A" for all
	dvc exp show --only-changed --drop '$(EXP_SHOW_DROP)' $(ARGS)

check-results: setup  ## does this run agree with HEAD's? REV=<commit or experiment>, RUN=<exp>
	python -m scripts.check_results $(if $(REV),--rev '$(REV)') $(if $(RUN),--run '$(RUN)')

readme-graph: setup  ## rewrite README.md's pipeline graph from `dvc dag --mermaid`
	python -m scripts.readme_graph

plots-template: setup  ## rewrite .dvc/plots/offline.html (dvc plots' page, Vega inlined) with npm
	python -m scripts.plots_template

# `make bench BASELINE=a3d5f98` (or ARGS="--baseline a3d5f98") also runs that revision's full
# pipeline in the same run, for the comparison.
bench: setup data  ## the speed benchmark; writes benchmarks/RESULTS.md
	python -m benchmarks.bench $(if $(BASELINE),--baseline $(BASELINE)) $(ARGS)

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

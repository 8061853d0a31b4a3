"""Sweeps: a grid of DVC experiments run on this machine or as one SLURM job array, and the
sweep report gathered from them.

- grid.py         `dvc exp run -S` arguments expanded into points, as DVC expands them
- clone.py        a scratch clone of a commit that shares a repository's DVC cache, runs one
                  point as an experiment and pushes it back (a SLURM task, `make quick`)
- experiments.py  the experiments of a commit, from `dvc exp show --json`
- local.py        a grid through DVC's own queue (`dvc exp run --queue`, `dvc queue start`)
- slurm.py        a grid as one `sbatch --array` job, and its tasks watched to the end
- page.py, figures.py  the sweep report, from a table of runs and their maps (no DVC, no git)
"""

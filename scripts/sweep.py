"""Sweeps and quick runs beside the workspace: `make sweep`, `make sweep-report`, `make quick`.

    python -m scripts.sweep submit --on local|slurm [--jobs N] [--sbatch-config FILE]
                                   [--sbatch OPTIONS] [--scratch DIR] -S key=values ...
    python -m scripts.sweep report [-S key=values ...] [--out reports/sweep]
    python -m scripts.sweep quick [--name NAME] [-S key=value ...] [dvc exp run options]
    python -m scripts.sweep task FOLDER INDEX   (what each SLURM task runs)

A grid is `dvc exp run -S`'s own syntax (a=1,2, choice(...), range(...)), expanded once; each
point is an experiment named by its overrides, so a second submission runs only the points that
have none. latentlab/sweep/ says how a point runs; docs/sweeps.md how to use it.

Exit status: 0 when everything asked for finished, 1 when a point or the quick run failed, 2 for
a mistake in the command or the repository's state, said in one line before any work.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

from latentlab.core.errors import UserError
from latentlab.sweep import clone, experiments, grid, local, page, slurm

STATE = Path(".dvc/tmp/sweeps")  # git-ignored by DVC: each SLURM submission's folder
REPORT = Path("reports/sweep")


def say(line: str) -> None:
    """One line of progress, at once."""
    print(line, flush=True)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Exit with status 2 after one line naming the mistake."""
        self.exit(2, f"error: {self.prog}: {message}; --help shows the usage\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m scripts.sweep", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    grid_help = "a param and its values, as `dvc exp run -S` takes them (repeatable)"
    submit = commands.add_parser("submit", help="run a grid of experiments")
    submit.add_argument("--on", choices=("local", "slurm"), default="local")
    submit.add_argument("--jobs", type=int, default=2, help="points at once (SLURM's %%N)")
    submit.add_argument("--sbatch-config", type=Path, help="YAML of sbatch long options")
    submit.add_argument("--sbatch", default="", help="more sbatch options, one command line")
    submit.add_argument("--scratch", help="the nodes' scratch folder (default: their TMPDIR)")
    submit.add_argument("--poll", type=float, default=5.0, help="seconds between checks")
    submit.add_argument("-S", "--set-param", dest="grid", action="append", help=grid_help)
    report = commands.add_parser("report", help="write the sweep report from the experiments")
    report.add_argument("-S", "--set-param", dest="grid", action="append", help=grid_help)
    report.add_argument("--out", type=Path, default=REPORT)
    quick = commands.add_parser("quick", help="one experiment of the workspace as it is")
    quick.add_argument("--name", help="the experiment's name (dvc exp run --name)")
    quick.add_argument("-S", "--set-param", dest="grid", action="append", help=grid_help)
    task = commands.add_parser("task", help="one SLURM task (run by sbatch)")
    task.add_argument("folder", type=Path)
    task.add_argument("index", type=int)
    return parser


def _pending(on: str, exps: list[experiments.Experiment], root: Path) -> dict[str, str]:
    """Points already on their way: experiment name -> where."""
    if on == "local":
        busy = (experiments.QUEUED, experiments.RUNNING)
        return {e.name: "DVC's queue" for e in exps if e.state in busy}
    return {name: f"job {job}" for name, job in slurm.active_names(root / STATE).items()}


def submit(args: argparse.Namespace) -> int:
    """`make sweep`: the points of the grid that have no experiment yet, run as experiments."""
    if args.jobs < 1:
        raise UserError(f"--jobs is {args.jobs}; it takes a whole number of at least 1")
    repo = clone.repository(Path.cwd())
    points = grid.expand(args.grid or [])
    options: list[str] = []
    if args.on == "slurm":
        slurm.require_commands()
        options = slurm.sbatch_options(args.sbatch_config, args.sbatch)
    changed, _ = clone.uncommitted(repo.root)
    if changed:
        raise UserError(
            f"the workspace has uncommitted changes ({', '.join(changed[:3])}"
            f"{', ...' if len(changed) > 3 else ''}); commit them first: a sweep runs one "
            "commit, and its points are named by their params alone"
        )
    exps = experiments.of_head(repo.root)
    done, pending = experiments.done_names(exps), _pending(args.on, exps, repo.root)
    todo = [p for p in points if p.name not in done and p.name not in pending]
    say(
        f"sweep of {len(points)} points at {repo.commit[:7]}: "
        f"{sum(p.name in done for p in points)} have an experiment, "
        f"{sum(p.name in pending for p in points)} are on their way, {len(todo)} to run"
    )
    for point in points:
        if point.name in pending:
            say(f"running {point.label}: in {pending[point.name]}")
    if not todo:
        return 0
    if args.on == "local":
        results = _run_local(repo, todo, exps, args)
    else:
        results = _run_slurm(repo, todo, options, args)
    if results is None:
        return 130
    failed_now = [r for r in results if not r.ok]
    say(
        f"{len(results) - len(failed_now)} of {len(results)} points ran as experiments "
        "(`dvc exp show` lists them)"
        + (f"; {len(failed_now)} failed, each said above" if failed_now else "")
    )
    return 1 if failed_now else 0


def _run_local(
    repo: clone.Repository,
    todo: list[grid.Point],
    exps: list[experiments.Experiment],
    args: argparse.Namespace,
) -> list[grid.PointResult] | None:
    """The points through DVC's queue, watched to the end (None when the user stops it)."""
    failed = {e.name for e in exps if e.state == experiments.FAILED}
    local.queue(repo.root, todo, failed, say)
    local.start(repo.root, args.jobs)
    try:
        return local.watch(repo.root, todo, args.poll, say)
    except KeyboardInterrupt:
        say("stopped watching; DVC's queue runs the rest (`dvc queue status`, `dvc queue kill`)")
        return None


def _run_slurm(
    repo: clone.Repository, todo: list[grid.Point], options: list[str], args: argparse.Namespace
) -> list[grid.PointResult] | None:
    """The points as one SLURM job array, watched to the end (None when the user stops it)."""
    (repo.root / STATE).mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S-")
    folder = Path(tempfile.mkdtemp(prefix=stamp, dir=repo.root / STATE))
    sub = slurm.Submission(folder, repo, tuple(todo), args.scratch)
    sub.save()
    try:
        job = slurm.submit(sub, args.jobs, options)
    except UserError:
        shutil.rmtree(folder)
        raise
    say(f"submitted job {job}: {len(todo)} tasks, at most {args.jobs} at once; logs in {folder}")
    try:
        return slurm.watch(sub, job, args.poll, say)
    except KeyboardInterrupt:
        say(
            f"stopped watching; job {job} runs on (`scancel {job}` stops it), and submitting "
            "the sweep again skips its points while it runs"
        )
        return None


def report(args: argparse.Namespace) -> int:
    """`make sweep-report`: reports/sweep/ from the finished experiments of HEAD (those of the
    grid when one is given), without training anything."""
    repo = clone.repository(Path.cwd())
    finished = [e for e in experiments.of_head(repo.root) if e.state == experiments.DONE]
    points = grid.expand(args.grid) if args.grid else []
    by_name = {e.name: e for e in finished}
    missing = [p.label for p in points if p.name not in by_name]
    if points:
        finished = [by_name[p.name] for p in points if p.name in by_name]
    if len(finished) < 2:
        raise UserError(
            f"{len(finished)} finished experiment(s) of {repo.commit[:7]} to compare; a sweep "
            "report needs two or more (`make sweep` runs them, `dvc exp show` lists them)"
        )
    runs = experiments.runs(repo.root, finished)
    keys = [k for k in grid.swept_keys(points) if k in runs[0].params] or page.swept(runs)
    if not keys:
        raise UserError("the experiments differ in no param of params.yaml: nothing was swept")
    out = args.out if args.out.is_absolute() else repo.root / args.out
    written = page.write(out, runs, keys, repo.commit, missing)
    say(f"wrote {', '.join(str(out / name) for name in written)} from {len(runs)} experiments")
    return 0


def _check_name(root: Path, name: str) -> None:
    valid = (
        subprocess.run(
            ["git", "check-ref-format", f"refs/exps/00/00/{name}"], capture_output=True
        ).returncode
        == 0
        and "/" not in name
    )
    if not valid:
        raise UserError(
            f"NAME {name!r} is not a valid experiment name (git's ref-name rules, no /)"
        )
    if name in experiments.done_names(experiments.of_head(root)):
        raise UserError(
            f"an experiment named {name!r} exists already; choose another NAME or "
            f"`dvc exp remove {name}` first"
        )


def quick(args: argparse.Namespace, extra: list[str]) -> int:
    """`make quick`: the workspace as it is, committed or not, run as one experiment in a
    scratch clone and pushed back; the workspace itself is never written."""
    repo = clone.repository(Path.cwd())
    if args.grid and len(grid.expand(args.grid)) > 1:
        raise UserError("a quick run takes one value per param; `make sweep` runs a grid")
    if args.name:
        _check_name(repo.root, args.name)
    changed, others = clone.uncommitted(repo.root)
    say(
        f"quick: a scratch clone of {repo.commit[:7]} with the workspace's {len(changed)} "
        f"changed and {len(others)} untracked files, sharing the DVC cache {repo.cache_dir}"
    )
    try:
        with clone.scratch_clone(repo, workspace=True) as work:
            name = clone.run_experiment(work, args.grid or [], args.name, extra)
            clone.push_experiment(work, name)
    except clone.RunFailed as err:
        say(f"quick: FAILED: {err}")
        return 1
    say(f"quick: experiment {name} is in this repository: `dvc exp show` lists it")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command; a UserError is one line on stderr and exit status 2."""
    args, extra = _parser().parse_known_args(argv)
    if extra and args.command != "quick":
        _parser().error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "submit":
            return submit(args)
        if args.command == "report":
            return report(args)
        if args.command == "quick":
            return quick(args, extra)
        return slurm.run_task(args.folder, args.index)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the workspace was not touched", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

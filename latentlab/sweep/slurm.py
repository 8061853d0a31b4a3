"""A grid as one SLURM job array: one task per point, at most `jobs` at once (`--array=0-N%jobs`).

Each task runs `python -m scripts.sweep task <folder> <index>` on a compute node: a scratch clone
of the submitted commit in node-local scratch (clone.py) runs its point as a DVC experiment and
pushes it to the submitting repository, then the task writes its result (a small JSON file) into
the submission's folder, `.dvc/tmp/sweeps/<id>/` of that repository, beside its SLURM log. The
repository, its DVC cache and this virtualenv must therefore be on a file system that the nodes
share, as they are on a cluster with a shared home or project folder.

The submitter watches the job with `squeue` and `scontrol` only: they answer on every cluster,
whereas `sacct` (which submitit relies on) needs SLURM's accounting database. sbatch's options
(partition, time limit, CPUs, memory, GPUs...) come from a YAML file of long option names and
from the command line; none is built in.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from latentlab.core.artifacts import write_bytes
from latentlab.core.errors import UserError
from latentlab.core.params import read_yaml
from latentlab.sweep import clone
from latentlab.sweep.grid import Point, PointResult

JOB_NAME = "latentlab-sweep"
COMMANDS = ("sbatch", "squeue", "scontrol")
# Options the sweep sets itself, by long name and short letter.
RESERVED = {"array": "a", "job-name": "J", "output": "o", "error": "e", "chdir": "D",
            "parsable": "", "wrap": "", "wait": "W"}  # fmt: skip
_OPTION = re.compile(r"^[a-z][a-z0-9-]*$")
# squeue states of a task that has not ended.
WAITING = ("PENDING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED")


def _option_from_config(file: Path, key: object, value: object) -> list[str]:
    if not isinstance(key, str) or not _OPTION.match(key.replace("_", "-")):
        raise UserError(f"{file}: {key!r} is not an sbatch long option name (partition, time...)")
    key = key.replace("_", "-")
    if key in RESERVED:
        raise UserError(f"{file}: {key} is set by the sweep itself; remove it")
    if value is True:
        return [f"--{key}"]
    if value is False or value is None:
        return []
    if isinstance(value, int | float | str) and "\n" not in str(value):
        return [f"--{key}={value}"]
    raise UserError(f"{file}: {key} must be one line of text, a number or true, not {value!r}")


def _reserved(arg: str) -> str | None:
    """The reserved option that a command-line word sets, if any."""
    if arg.startswith("--"):
        name = arg[2:].split("=", 1)[0]
        return name if name in RESERVED else None
    if arg.startswith("-") and len(arg) > 1:
        return next((k for k, short in RESERVED.items() if short and arg[1] == short), None)
    return None


def sbatch_options(config: Path | None, extra: str = "") -> list[str]:
    """sbatch's options from a YAML file of long option names (`partition: gpu`, `gpus: 1`,
    `exclusive: true`), then those of `extra`, a command line; later ones win, as in sbatch."""
    options: list[str] = []
    if config is not None:
        loaded = read_yaml(config) or {}
        if not isinstance(loaded, dict):
            raise UserError(f"{config} must map sbatch option names to values")
        for key, value in loaded.items():
            options += _option_from_config(config, key, value)
    try:
        words = shlex.split(extra)
    except ValueError as err:
        raise UserError(f"the sbatch options {extra!r} cannot be split: {err}") from None
    for word in words:
        if (name := _reserved(word)) is not None:
            raise UserError(f"sbatch option {word!r}: {name} is set by the sweep itself")
    return options + words


def require_commands() -> None:
    """A UserError unless SLURM's client commands are on PATH."""
    missing = [c for c in COMMANDS if shutil.which(c) is None]
    if missing:
        raise UserError(
            f"{', '.join(missing)} not found on PATH: ON=slurm needs a SLURM cluster's client "
            "commands (sbatch, squeue, scontrol); ON=local runs the sweep on this machine"
        )


@dataclass(frozen=True)
class Submission:
    """A submitted grid: its folder, the repository it came from, the points of its tasks."""

    folder: Path
    repo: clone.Repository
    points: tuple[Point, ...]
    scratch: str | None = None  # the nodes' scratch folder; None: their temporary folder

    def status_file(self, index: int) -> Path:
        """Where task `index` writes how it ended."""
        return self.folder / f"task-{index}.json"

    def log_file(self, index: int) -> Path:
        """Task `index`'s SLURM log (sbatch --output)."""
        return self.folder / f"task-{index}.log"

    def save(self, job: str = "") -> None:
        """Write the submission's description (and its job id, once known)."""
        described = {
            "job": job,
            "repo": str(self.repo.root),
            "commit": self.repo.commit,
            "cache_dir": str(self.repo.cache_dir),
            "scratch": self.scratch,
            "points": [list(p.args) for p in self.points],
        }
        write_bytes(self.folder / "sweep.json", json.dumps(described, indent=1).encode())

    @staticmethod
    def load(folder: Path) -> tuple[Submission, str]:
        """A submission and its job id (empty before sbatch answered)."""
        d = json.loads((folder / "sweep.json").read_text())
        repo = clone.Repository(Path(d["repo"]), d["commit"], Path(d["cache_dir"]))
        points = tuple(Point(tuple(args)) for args in d["points"])
        return Submission(folder, repo, points, d["scratch"]), d["job"]

    def result(self, index: int) -> PointResult | None:
        """What task `index` wrote when it ended, or None."""
        try:
            return PointResult(**json.loads(self.status_file(index).read_text()))
        except (OSError, ValueError, TypeError):
            return None


def run_task(folder: Path, index: int) -> int:
    """A SLURM task: run point `index` of the submission in `folder` in a scratch clone, push
    it as an experiment, write the result and print it in one line. Exit status 1 on failure."""
    try:
        sub, _ = Submission.load(folder)
        point = sub.points[index]
    except (OSError, ValueError, KeyError, IndexError) as err:
        print(
            f"error: point {index} of {folder / 'sweep.json'} cannot be read ({err}); the "
            "compute nodes must see the repository at the path it has on the submitting machine",
            flush=True,
        )
        return 2
    print(f"task {index}: {point.label} in a clone of {sub.repo.commit[:7]}", flush=True)
    # scancel and a time limit send SIGTERM first: leave through the clone's clean-up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    start = time.monotonic()
    try:
        scratch = Path(sub.scratch) if sub.scratch else None
        with clone.scratch_clone(sub.repo, scratch) as work:
            clone.run_experiment(work, point.args, point.name)
            clone.push_experiment(work, point.name)
        result = PointResult(point.name, point.label, True, seconds=time.monotonic() - start)
    except (clone.RunFailed, OSError) as err:
        result = PointResult(point.name, point.label, False, str(err), time.monotonic() - start)
    write_bytes(sub.status_file(index), json.dumps(asdict(result)).encode())
    print(result.line(), flush=True)
    return 0 if result.ok else 1


def _slurm(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True)


def submit(sub: Submission, jobs: int, options: Sequence[str]) -> str:
    """sbatch the submission as one array job, at most `jobs` tasks at once; its job id."""
    script = sub.folder / "task.sh"
    task = shlex.join([sys.executable, "-m", "scripts.sweep", "task", str(sub.folder)])
    write_bytes(
        script,
        "#!/bin/sh\n# One point of a sweep, written by `make sweep ON=slurm`.\n"
        f'exec {task} "$SLURM_ARRAY_TASK_ID"\n'.encode(),
    )
    cmd = [
        "sbatch", "--parsable", f"--array=0-{len(sub.points) - 1}%{jobs}",
        f"--job-name={JOB_NAME}", f"--output={sub.folder}/task-%a.log",
        f"--chdir={sub.repo.root}", *options, str(script),
    ]  # fmt: skip
    print("$ " + shlex.join(cmd), flush=True)
    done = _slurm(cmd)
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip() or "no reason given").splitlines()
        raise UserError(f"sbatch refused the sweep: {said[-1]}")
    job = done.stdout.strip().split(";")[0]
    sub.save(job)
    return job


def task_states(job: str) -> dict[int, tuple[str, str]] | None:
    """(state, reason) by array index of the tasks of `job` that have not ended; None when
    squeue cannot answer (the controller busy or restarting), which is no answer about them."""
    done = _slurm(["squeue", "--noheader", "--array", "--jobs", job, "--format=%K|%T|%r"])
    if done.returncode != 0:
        # A job that ended long ago is unknown to squeue: then none of its tasks runs.
        return {} if "Invalid job id" in done.stderr else None
    states = {}
    for line in done.stdout.splitlines():
        index, state, reason = [*line.split("|"), "", ""][:3]
        if index.strip().isdigit():
            states[int(index)] = (state.strip(), reason.strip())
        elif m := re.match(r"^(\d+)-(\d+)", index.strip()):  # a range not yet split: 1-3%2
            for i in range(int(m.group(1)), int(m.group(2)) + 1):
                states[i] = (state.strip(), reason.strip())
    return states


def ended_without_result(job: str, index: int) -> str:
    """Why a task that wrote no result ended, as `scontrol` still knows it."""
    done = _slurm(["scontrol", "--oneliner", "show", "job", f"{job}_{index}"])
    fields = dict(re.findall(r"(\w+)=(\S*)", done.stdout)) if done.returncode == 0 else {}
    if not fields:
        return "the task ended without a result, and SLURM no longer knows it"
    return (
        f"SLURM ended the task: {fields.get('JobState', '?')} ({fields.get('Reason', '?')}), "
        f"exit code {fields.get('ExitCode', '?')}"
    )


def watch(
    sub: Submission, job: str, poll: float, say: Callable[[str], Any] = print
) -> list[PointResult]:
    """Wait for every task of `job`: one line whenever the counts change and one per task as
    it ends; then each task's result, from what it wrote or else from SLURM."""
    n, seen, last = len(sub.points), {}, ""
    while True:
        states = task_states(job)
        for i in range(n):
            if i not in seen and (r := sub.result(i)) is not None:
                seen[i] = r
                say(r.line())
        status = f"job {job}: squeue does not answer; asking again"
        if states is not None:
            waiting = [s for s, _ in states.values() if s in WAITING]
            why = sorted({r for s, r in states.values() if s in WAITING and r and r != "None"})
            status = (
                f"job {job}: {len(states) - len(waiting)} running, {len(waiting)} pending"
                f"{' (' + ', '.join(why) + ')' if why else ''}, {len(seen)} of {n} finished"
            )
        if status != last:
            say(status)
            last = status
        if states == {}:
            break
        time.sleep(poll)
    results = []
    for i, point in enumerate(sub.points):
        result = sub.result(i) or PointResult(
            point.name, point.label, False, f"{ended_without_result(job, i)}; see {sub.log_file(i)}"
        )
        if i not in seen:
            say(result.line())
        results.append(result)
    return results


def active_names(state_root: Path) -> dict[str, str]:
    """The points of earlier submissions whose job still runs and that have no result yet:
    experiment name -> job id."""
    listed = _slurm(["squeue", "--noheader", f"--name={JOB_NAME}", "--format=%A"])
    jobs = set(listed.stdout.split()) if listed.returncode == 0 else set()
    active: dict[str, str] = {}
    for folder in sorted(state_root.glob("*/")) if jobs else []:
        try:
            sub, job = Submission.load(folder)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if job in jobs:
            for i, point in enumerate(sub.points):
                if sub.result(i) is None:
                    active[point.name] = job
    return active

"""A grid through DVC's own queue on this machine: each point queued by name with `dvc exp run
--queue`, then `dvc queue start -j N`, then watched with `dvc exp show` until it ends.

DVC's queue runs each experiment in its own temporary copy under .dvc/tmp/exps that shares the
cache, so the workspace stays free; queueing itself briefly writes the point's params into the
workspace's params.yaml and restores it (DVC's stash), which is why a sweep starts from a clean
workspace.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from latentlab.core.errors import UserError
from latentlab.sweep import experiments
from latentlab.sweep.clone import RunFailed, dvc, failure_reason, run_tool, tool_env
from latentlab.sweep.grid import Point, PointResult


def queue(root: Path, points: Sequence[Point], failed: set[str], say: Callable[[str], Any]) -> None:
    """Queue each point under its name; a failed entry of the same name is removed first, so
    that its name means one entry of the queue."""
    stale = sorted(failed & {p.name for p in points})
    try:
        if stale:
            run_tool(dvc("queue", "remove", *stale), root, "dvc queue remove")
        for point in points:
            args = [x for arg in point.args for x in ("--set-param", arg)]
            run_tool(dvc("exp", "run", "--queue", "--quiet", "--name", point.name, *args), root,
                     f"dvc exp run --queue for {point.label}")  # fmt: skip
            say(f"queued  {point.label}: experiment {point.name}")
    except RunFailed as err:
        raise UserError(str(err)) from None


def start(root: Path, jobs: int) -> None:
    """Start DVC's queue workers, `jobs` of them; they stop when the queue is empty. Their
    output goes to a file, not a pipe: the workers live on and would hold a pipe open."""
    with tempfile.TemporaryFile("w+") as said:
        done = subprocess.run(
            dvc("queue", "start", "--jobs", str(jobs)), cwd=root, env=tool_env(),
            stdout=said, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if done.returncode != 0:
            said.seek(0)
            lines = said.read().strip().splitlines() or [f"exit status {done.returncode}"]
            raise UserError(f"dvc queue start failed: {lines[-1]}")


def _reason(root: Path, name: str) -> str:
    try:
        logs = run_tool(dvc("queue", "logs", name), root, f"dvc queue logs {name}")
    except RunFailed as err:
        return str(err)
    return failure_reason(logs.splitlines(), 1)


def watch(
    root: Path, points: Sequence[Point], poll: float, say: Callable[[str], Any] = print
) -> list[PointResult]:
    """Wait until no point is queued or running: one line whenever the counts change and one
    per point as it ends; then each point's result (the reason from `dvc queue logs`)."""
    names = {p.name: p for p in points}
    ended: dict[str, PointResult] = {}
    absent: dict[str, int] = {}
    last = ""
    while True:
        states = {e.name: e.state for e in experiments.of_head(root) if e.name in names}
        for name, point in names.items():
            state = states.get(name)
            # An entry can be missing from one listing while DVC moves it from the queue to
            # a worker; missing from three in a row, it is gone.
            absent[name] = absent.get(name, 0) + 1 if state is None else 0
            if name in ended or state in (experiments.QUEUED, experiments.RUNNING):
                continue
            if state == experiments.DONE:
                ended[name] = PointResult(name, point.label, True)
            elif state == experiments.FAILED or absent[name] >= 3:
                ended[name] = PointResult(name, point.label, False, _reason(root, name))
            else:
                continue
            say(ended[name].line())
        running = sum(s == experiments.RUNNING for s in states.values())
        queued = sum(s == experiments.QUEUED for s in states.values())
        status = f"queue: {running} running, {queued} queued, {len(ended)} of {len(names)} ended"
        if status != last:
            say(status)
            last = status
        if len(ended) == len(names):
            return [ended[p.name] for p in points]
        time.sleep(poll)

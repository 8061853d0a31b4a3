"""The experiments of a repository's HEAD commit, as `dvc exp show --json` lists them, and the
files each experiment's commit holds (git show)."""

from __future__ import annotations

import io
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from latentlab.core import paths
from latentlab.core.errors import UserError
from latentlab.sweep.clone import RunFailed, dvc, run_tool, tool_env
from latentlab.sweep.page import Run, vaes_of

PARAMS_FILE = "params.yaml"
METRICS_FILE = paths.HEADLINE.as_posix()
# DVC's queue states, and None for an experiment made outside the queue (pushed from a clone).
DONE, QUEUED, RUNNING, FAILED = "done", "queued", "running", "failed"
_STATES = {None: DONE, "success": DONE, "queued": QUEUED, "running": RUNNING, "failed": FAILED}


@dataclass(frozen=True)
class Experiment:
    """One experiment of the baseline commit."""

    name: str
    rev: str
    state: str  # DONE, QUEUED, RUNNING or FAILED
    params: dict[str, Any]  # params.yaml, flattened to dotted keys
    metrics: dict[str, Any]  # reports/metrics.json as the report stage wrote it


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"vae": {"lr": 0.001}} -> {"vae.lr": 0.001}; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def parse_show(shown: list[dict[str, Any]]) -> list[Experiment]:
    """The experiments of the baseline in `dvc exp show --json` output (the workspace left
    out), newest first as DVC lists them."""
    found = []
    for baseline in shown:
        if baseline.get("rev") == "workspace":
            continue
        for exp in baseline.get("experiments") or []:
            if not exp.get("revs"):
                continue
            rev = exp["revs"][0]
            data = rev.get("data") or {}
            executor = exp.get("executor") or {}
            params = (data.get("params") or {}).get(PARAMS_FILE, {}).get("data", {})
            metrics = (data.get("metrics") or {}).get(METRICS_FILE, {}).get("data", {})
            found.append(
                Experiment(
                    name=exp.get("name") or rev["rev"][:7],
                    rev=rev["rev"],
                    state=_STATES.get(executor.get("state"), executor.get("state") or DONE),
                    params=flatten(params),
                    metrics=metrics,
                )
            )
    return found


# `dvc exp show` fails now and then while DVC's queue workers run: a worker removes its
# temporary copy (.dvc/tmp/exps/tmp...) as the command reads it. A failure that lasts over
# several tries a second apart is a real one.
_SHOW_TRIES = 5


def of_head(root: Path) -> list[Experiment]:
    """Every experiment of the repository's HEAD commit, queued and failed ones included."""
    for attempt in range(_SHOW_TRIES):
        try:
            shown = json.loads(run_tool(dvc("exp", "show", "--json"), root, "dvc exp show"))
            return parse_show(shown)
        except RunFailed as err:
            if attempt == _SHOW_TRIES - 1:
                raise UserError(str(err)) from None
            time.sleep(1.0)
    raise AssertionError("unreachable")


def done_names(experiments: list[Experiment]) -> set[str]:
    """The names of the experiments that finished."""
    return {e.name for e in experiments if e.state == DONE}


def file_at(root: Path, rev: str, path: str) -> bytes | None:
    """A file as committed at `rev` (an experiment's commit holds its git-tracked results), or
    None when that commit has no such file."""
    done = subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=root, env=tool_env(), capture_output=True
    )
    return done.stdout if done.returncode == 0 else None


def _needed(root: Path, exp: Experiment, path: str) -> bytes:
    data = file_at(root, exp.rev, path)
    if data is None:
        raise UserError(
            f"experiment {exp.name} ({exp.rev[:7]}) has no {path}; its report stage did not run"
        )
    return data


def runs(root: Path, chosen: list[Experiment]) -> list[Run]:
    """The sweep report's view of finished experiments: each one's params and headline metrics
    from `dvc exp show`, its summary.csv and its VAE maps from its commit."""
    found = []
    for exp in chosen:
        summary = pd.read_csv(io.BytesIO(_needed(root, exp, paths.SUMMARY.as_posix())))
        maps = {
            m: _needed(root, exp, paths.figure(f"map_{m}").as_posix()) for m in vaes_of(exp.params)
        }
        found.append(Run(exp.name, exp.params, exp.metrics, summary, maps))
    return found

"""The workspace and experiments side by side in 100 columns: `make compare`.

One column per run, one row per param that differs between the runs shown, per headline metric
(with the direction that is better) and per claim's verdict. The values are DVC's own: the
output of `dvc exp show --json`, so the runs are what `dvc exp show` lists (the workspace, the
baseline commit and its experiments) and names are DVC's names (the one given with
`dvc exp run -n` or `make quick NAME=...`, or the one DVC made up). `dvc exp show` puts every
run in a row and every value in a column, which is some 1,000 columns wide here; turned round,
the runs fit beside one another, and runs beyond 100 columns go on to the next block.

    python -m scripts.compare [NAME ...] [--all-commits]

Without names: the workspace and every experiment of its baseline commit (of every commit with
--all-commits), and the baseline itself when it differs from the workspace. With names
(experiments, branches, tags, commits, looked for among every commit's when HEAD's lack one):
the workspace and those. Exit status 0, or 2 when a name is not a run with results.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from tabulate import tabulate

from latentlab.analysis.metrics import BY_NAME, HIGHER, LOWER
from latentlab.core.paths import HEADLINE, VERDICTS
from latentlab.report.comparison import CLAIMS, MECHANISM_KEY

REPO = Path(__file__).resolve().parents[1]
WIDTH = 100
PARAMS_FILE = "params.yaml"
# The headline file names the judges' accuracy `judge_accuracy`; the metrics table `test_accuracy`.
ALIASES = {"judge_accuracy": "test_accuracy"}
BETTER = {HIGHER: "higher", LOWER: "lower"}
OWN = "_own"  # a claim about the map, judged over each model's own square


@dataclass
class Run:
    """One row of `dvc exp show`: its name, commit, and its params and DVC metrics, flattened."""

    name: str
    rev: str
    baseline: str = ""  # the baseline's name, for an experiment
    params: dict[str, str] = field(default_factory=dict)
    headline: dict[str, float] = field(default_factory=dict)
    verdicts: dict[str, str] = field(default_factory=dict)

    @property
    def short(self) -> str:
        """The commit's first 7 characters (the workspace has none)."""
        return "" if self.rev == "workspace" else self.rev[:7]


def refuse(message: str) -> NoReturn:
    """Stop with one `error:` line and exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}, as `dvc exp show` names its columns."""
    if not isinstance(node, dict):
        return {prefix: node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _param_text(value: Any) -> str:
    """A param as params.yaml would spell it: lists in brackets, nothing else added."""
    if isinstance(value, list):
        return "[" + ", ".join(map(_param_text, value)) + "]"
    return str(value)


def _run(entry: dict[str, Any], name: str, baseline: str = "") -> Run | None:
    """A Run from one entry of `dvc exp show --json`, or None when it has no results yet (queued,
    running or failed)."""
    data = entry.get("data") or {}
    metrics = data.get("metrics") or {}
    if entry.get("error") or str(HEADLINE) not in metrics:
        return None
    params = (data.get("params") or {}).get(PARAMS_FILE, {}).get("data", {})
    verdicts = metrics.get(str(VERDICTS), {}).get("data", {})
    return Run(
        name=name,
        rev=entry["rev"],
        baseline=baseline,
        params={k: _param_text(v) for k, v in flatten(params).items()},
        headline=flatten(metrics[str(HEADLINE)].get("data", {})),
        verdicts=flatten(verdicts),
    )


def runs_of(shown: list[dict[str, Any]]) -> tuple[list[Run], list[str]]:
    """The runs of `dvc exp show --json` in its order, and the names of those without results."""
    runs: list[Run] = []
    pending: list[str] = []
    for commit in shown:
        name = commit.get("name") or ("workspace" if commit["rev"] == "workspace" else "")
        base = _run(commit, name or commit["rev"][:7])
        if base:
            runs.append(base)
        for experiment in commit.get("experiments") or []:
            for entry in experiment.get("revs") or []:
                run = _run(entry, entry.get("name") or entry["rev"][:7], base.name if base else "")
                if run:
                    runs.append(run)
                else:
                    pending.append(entry.get("name") or entry["rev"][:7])
    return runs, pending


def _matches(run: Run, name: str) -> bool:
    return name in (run.name, run.rev) or (len(name) >= 4 and run.rev.startswith(name))


def missing(runs: list[Run], names: list[str]) -> list[str]:
    """The names that match no run (by name, commit or a commit's first 4+ characters)."""
    return [n for n in names if not any(_matches(r, n) for r in runs)]


def select(runs: list[Run], names: list[str]) -> list[Run]:
    """The workspace and the runs named (by name or commit), in the order named; without names,
    every run but a baseline that holds what the workspace holds."""
    workspace = next((r for r in runs if r.rev == "workspace"), None)
    if not names:
        return [
            r
            for r in runs
            if r is workspace
            or workspace is None
            or r.baseline
            or (r.params, r.headline, r.verdicts)
            != (workspace.params, workspace.headline, workspace.verdicts)
        ]
    unknown = missing(runs, names)
    if unknown:
        refuse(
            f"no experiment or commit with results is named {unknown[0]!r}; "
            f"`dvc exp list --all-commits` lists the experiments"
        )
    chosen = [workspace] if workspace else []
    for name in names:
        chosen += [r for r in runs if _matches(r, name) and r not in chosen]
    return chosen


def param_rows(runs: list[Run]) -> list[list[str]]:
    """One row per param whose value is not the same in every run (a param a run lacks is "-")."""
    keys = list(dict.fromkeys(k for r in runs for k in r.params))
    rows = []
    for key in keys:
        values = [r.params.get(key, "-") for r in runs]
        if len(set(values)) > 1:
            rows.append([key, *values])
    return rows


def _metric(key: str) -> str:
    """The metrics table's name of a headline key: `vae.coverage` -> `coverage`."""
    name = key.rpartition(".")[2]
    return ALIASES.get(name, name)


def metric_rows(runs: list[Run]) -> list[list[str]]:
    """One row per headline metric: its name, the better direction, each run's value."""
    keys = list(dict.fromkeys(k for r in runs for k in r.headline))
    rows = []
    for key in keys:
        metric = BY_NAME.get(_metric(key))
        better = BETTER.get(metric.better, "") if metric else ""
        values = [r.headline.get(key) for r in runs]
        rows.append([key, better, *("-" if v is None else f"{v:.4g}" for v in values)])
    return rows


def _claim_label(key: str) -> str:
    """`vae.ae_wide.kinds_own` -> `kinds, own squares: vae vs ae_wide`; the factorial's
    `mechanism.kinds` -> `kinds: what carries it (2 x 2)`."""
    if key.startswith(f"{MECHANISM_KEY}."):
        return f"{key.removeprefix(MECHANISM_KEY + '.')}: what carries it (2 x 2)"
    vae, ae, claim = key.split(".", 2)
    square = ", own squares" if claim.endswith(OWN) else ""
    return f"{claim.removesuffix(OWN)}{square}: {vae} vs {ae}"


def verdict_rows(runs: list[Run]) -> list[list[str]]:
    """One row per claim and comparison: each run's verdict ("-" where a run has none)."""
    keys = list(dict.fromkeys(k for r in runs for k in r.verdicts))
    return [[_claim_label(k), *(r.verdicts.get(k, "-") for r in runs)] for k in keys]


def _table(rows: list[list[str]], labels: list[str], headers: list[str], runs: range) -> str:
    """The label columns and the columns of the runs in `runs`, as a plain table."""
    fixed = len(labels)
    table = [row[:fixed] + [row[fixed + i] for i in runs] for row in rows]
    return tabulate(table, [*labels, *(headers[i] for i in runs)], tablefmt="simple")


def blocks(
    rows: list[list[str]], labels: list[str], headers: list[str], width: int = WIDTH
) -> list[str]:
    """The rows as plain tables of at most `width` columns: the label columns (the first
    `len(labels)` of each row) in every block, and as many runs beside them as fit (one at
    least)."""
    out, start = [], 0
    while start < len(headers):
        stop = start + 1
        while stop < len(headers):
            text = _table(rows, labels, headers, range(start, stop + 1))
            if max(map(len, text.splitlines())) > width:
                break
            stop += 1
        out.append(_table(rows, labels, headers, range(start, stop)))
        start = stop
    return out


def headers(runs: list[Run]) -> list[str]:
    """Each run's column heading: its name, with its commit where two runs share a name (an
    experiment name is unique only per baseline)."""
    names = [r.name for r in runs]
    return [f"{r.name}@{r.short}" if names.count(r.name) > 1 else r.name for r in runs]


def legend(runs: list[Run]) -> str:
    """Which commit each column is."""
    lines = ["Runs:"]
    for heading, r in zip(headers(runs), runs, strict=True):
        where = r.short + (f", an experiment on {r.baseline}" if r.baseline else "")
        lines.append(f"  {heading}" + (f" ({where})" if where else " (this folder, as it is)"))
    return "\n".join(lines)


def claims_legend() -> str:
    """The claims' keys as the verdict rows name them."""
    lines = ["Claims (report.md says how each is measured; 'own squares': each model's own):"]
    lines += [f"  {c.key}: {c.text}" for c in CLAIMS]
    return "\n".join(lines)


def render(runs: list[Run], pending: list[str], width: int = WIDTH) -> str:
    """The whole view: runs, params that differ, headline metrics, verdicts."""
    columns = headers(runs)
    parts = [legend(runs)]
    if pending:
        parts.append(f"Not shown, no results yet: {', '.join(pending)}")
    params = param_rows(runs)
    if len(runs) > 1:
        parts.append("Params that differ")
        parts += blocks(params, ["param"], columns, width) if params else ["  none"]
    parts.append(f"Headline metrics ({HEADLINE}: means over seeds and judges)")
    parts += blocks(metric_rows(runs), ["metric", "better"], columns, width)
    verdicts = verdict_rows(runs)
    if verdicts:
        parts.append(f"Verdicts ({VERDICTS})")
        parts += blocks(verdicts, ["claim"], columns, width)
        parts.append(claims_legend())
    return "\n\n".join(parts)


def exp_show(all_commits: bool) -> list[dict[str, Any]]:
    """`dvc exp show --json` of this repository (every commit's experiments with `all_commits`)."""
    command = [sys.executable, "-m", "dvc", "exp", "show", "--json"]
    shown = subprocess.run(
        command + (["--all-commits"] if all_commits else []),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if shown.returncode != 0:
        lines = (shown.stderr or shown.stdout).strip().splitlines() or ["no output"]
        refuse(f"`dvc exp show --json` failed: {lines[-1]}")
    return json.loads(shown.stdout)


def main(argv: list[str] | None = None) -> None:
    """Print the comparison of the runs named (or of every experiment of the baseline)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="experiments, branches, tags or commits")
    parser.add_argument(
        "-A", "--all-commits", action="store_true", help="every commit's experiments"
    )
    args = parser.parse_args(argv)
    runs, pending = runs_of(exp_show(args.all_commits))
    if not args.all_commits and missing(runs, args.names):  # named runs on another commit
        runs, pending = runs_of(exp_show(True))
    if not runs:
        refuse(f"no run has {HEADLINE} yet; run `make repro` or `make quick` first")
    print(render(select(runs, args.names), pending))


if __name__ == "__main__":
    main()

"""Does this workspace's run agree with the committed one? `make check-results`.

Compares the headline metrics of reports/summary.csv (a map's over the lab's square) with the
same file as committed at a git revision (HEAD by default), each within a tolerance on the scale
of the committed run's own spread: a prediction interval for the difference of two runs' means,
sqrt(2 * (t_s^2 s_s^2 / n_s + t_j^2 s_j^2 / n_j)), with s the standard deviations over the n
seeds and over the n judges and t Student's 99% quantile for n - 1 degrees of freedom. With
three seeds the spread is known only roughly, and t says how roughly, so the check catches a run
that went wrong, not a shift of a few per cent (more seeds narrow it). The tolerance is never
below the metric's resolution (one whole unit for a count) nor 1% of the committed value.

On the machine that made the commit a rerun is byte-identical; on another CPU the floats differ,
the models and judges train along other paths, and the numbers should move by no more than this.
Runs of different params are not compared: params.yaml must be the one committed at the revision,
and reports/summary.csv the one dvc.lock records for the report run of these params.

    python -m scripts.check_results [--rev HEAD]

Exit status, one meaning each: 0 every metric agrees, 1 one does not, 2 nothing can be compared
(a missing, malformed or stale file, different params, or a crash).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from scipy import stats

from latentlab.analysis.metrics import BY_NAME
from latentlab.core.dvc_run import parse_yaml
from latentlab.core.paths import SUMMARY

REPO = Path(__file__).resolve().parents[1]

COVERAGE = 0.99  # of the prediction interval of each metric
RELATIVE_FLOOR = 0.01
PARAMS = Path("params.yaml")
LOCK = Path("dvc.lock")
NUMBERS = ("mean", "std_seeds", "std_judges")  # finite
COUNTS = ("seeds", "judges")  # whole numbers, at least 1
SUMMARY_COLUMNS = (
    "model",
    "square",
    "metric",
    "mean",
    "std_seeds",
    "std_judges",
    "seeds",
    "judges",
)


def _component(std: float, n: int) -> float:
    """t^2 s^2 / n of one source of spread (none when it was seen only once)."""
    if n < 2:
        return 0.0
    t = stats.t.ppf(1 - (1 - COVERAGE) / 2, n - 1)
    return (t * std) ** 2 / n


def tolerance(row: pd.Series) -> float:
    """How far a fresh run's mean may be from the committed one (see the module docstring)."""
    variance = _component(row["std_seeds"], int(row["seeds"])) + _component(
        row["std_judges"], int(row["judges"])
    )
    spread = math.sqrt(2.0 * variance)
    return max(spread, BY_NAME[row["metric"]].resolution, RELATIVE_FLOOR * abs(row["mean"]))


def refuse(message: str) -> NoReturn:
    """Stop with one `error:` line and exit status 2, as the stages do."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _bad_cell(table: pd.DataFrame) -> str | None:
    """Where a summary first holds what the report stage never writes (text, nan, infinity, or
    a count that is not a whole number of at least 1), said as column, row and line."""
    for column in (*NUMBERS, *COUNTS):
        values = pd.to_numeric(table[column], errors="coerce").astype(float)
        bad = ~np.isfinite(values)
        if column in COUNTS:
            bad |= (values < 1) | (values % 1 != 0)
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            row = table.iloc[i]
            return f"{column} of {row['model']}/{row['square']}/{row['metric']} (line {i + 2})"
    return None


def read_summary(source: Path | io.StringIO, name: str) -> pd.DataFrame:
    """A summary table as the report stage writes it, or exit naming the file."""
    try:
        table = pd.read_csv(source, keep_default_na=False)
    except (ValueError, pd.errors.ParserError):  # EmptyDataError is a ValueError
        refuse(f"{name} is not a summary table; rerun `dvc repro report`")
    if not set(SUMMARY_COLUMNS) <= set(table.columns):
        refuse(f"{name} lacks the columns {', '.join(SUMMARY_COLUMNS)}; rerun `dvc repro report`")
    bad = _bad_cell(table)
    if bad:
        refuse(f"{name}: {bad} is not a finite number of the kind the report writes")
    return table.astype({c: float for c in NUMBERS} | {c: int for c in COUNTS})


def read_yaml(text: str, name: str) -> Any:
    """params.yaml or dvc.lock as DVC reads them, or exit naming the file."""
    try:
        return parse_yaml(text, name)
    except ValueError:
        refuse(f"{name} is not valid YAML; nothing to compare")


def current_file(path: Path, why: str) -> str:
    """A file of this workspace, or exit naming it."""
    try:
        return (REPO / path).read_text()
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        refuse(f"{path} is missing or unreadable; {why}")


def check_summary_is_this_run(params: Any) -> None:
    """Exit unless dvc.lock records reports/summary.csv, byte for byte, as made from `params`
    (a summary left by a run of other params, or edited, is not this run)."""
    lock = read_yaml(current_file(LOCK, "run `make repro` first"), str(LOCK))
    report = lock.get("stages", {}).get("report", {}) if isinstance(lock, dict) else {}
    recorded = report.get("params", {}).get(PARAMS.name) if isinstance(report, dict) else None
    if recorded != params:
        refuse(
            f"{SUMMARY} was made with other params than {PARAMS} (dvc.lock's report stage "
            f"records them); run `dvc repro` first"
        )
    outs = {o.get("path"): o.get("md5") for o in report.get("outs", []) if isinstance(o, dict)}
    if outs.get(SUMMARY.as_posix()) != hashlib.md5((REPO / SUMMARY).read_bytes()).hexdigest():
        refuse(f"{SUMMARY} is not the one dvc.lock records for the report; run `dvc repro` first")


def committed_file(rev: str, path: Path) -> str:
    """A file as committed at `rev`, or exit naming it."""
    shown = subprocess.run(
        ["git", "show", f"{rev}:{path.as_posix()}"], cwd=REPO, capture_output=True, text=True
    )
    if shown.returncode != 0:
        refuse(f"{path} is not committed at {rev}; nothing to compare with")
    return shown.stdout


def compare(committed: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """One row per headline metric: committed and current means, tolerance, whether they agree."""
    headline = committed[
        committed.metric.map(lambda m: m in BY_NAME and BY_NAME[m].headline)
        & committed.square.isin(["", "lab"])
    ]
    keys = ["model", "square", "metric"]
    merged = headline.merge(current, on=keys, how="left", suffixes=("", "_now"))
    merged["tolerance"] = merged.apply(tolerance, axis=1)
    merged["difference"] = merged["mean_now"] - merged["mean"]
    merged["agrees"] = merged["difference"].abs() <= merged["tolerance"]
    return merged[["model", "metric", "mean", "mean_now", "difference", "tolerance", "agrees"]]


def check(rev: str) -> int:
    """Print the comparison with `rev` as one short table; 0 when the run agrees, 1 when not."""
    if not (REPO / SUMMARY).is_file():
        refuse(f"{SUMMARY} is missing; run `make repro` first")
    params = read_yaml(current_file(PARAMS, "run from the repository"), str(PARAMS))
    if read_yaml(committed_file(rev, PARAMS), f"{rev}:{PARAMS}") != params:
        refuse(
            f"{PARAMS} differs from the one committed at {rev}, so the results cannot be "
            f"compared; compare with the revision whose params made this run (--rev)"
        )
    check_summary_is_this_run(params)
    committed = read_summary(io.StringIO(committed_file(rev, SUMMARY)), f"{rev}:{SUMMARY}")
    table = compare(committed, read_summary(REPO / SUMMARY, str(SUMMARY)))
    if table.empty:
        refuse(f"{SUMMARY} at {rev} holds no headline metric; nothing to compare")
    shown = table.rename(columns={"mean": f"at {rev}", "mean_now": "this run"})
    shown["agrees"] = shown["agrees"].map({True: "yes", False: "**no**"})
    print(shown.to_markdown(index=False, floatfmt=".4g"))
    bad = int((~table["agrees"]).sum())  # a metric missing from this run disagrees
    if bad:
        print(
            f"\n{bad} of {len(table)} metrics differ from {rev} by more than the "
            f"tolerance: this run does not agree with the commit."
        )
        return 1
    print(f"\nAll {len(table)} metrics agree with {rev} within tolerance.")
    return 0


def main() -> None:
    """Compare, and exit with the status the module docstring gives (2 for a crash too)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD", help="the git revision to compare with")
    args = parser.parse_args()
    try:
        status = check(args.rev)
    except Exception as err:  # not "does not agree": nothing was compared
        traceback.print_exc()
        refuse(f"the comparison crashed ({type(err).__name__}: {err}); nothing was compared")
    raise SystemExit(status)


if __name__ == "__main__":
    main()

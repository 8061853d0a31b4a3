"""Does a run agree with the committed one? `make check-results [REV=...] [RUN=...]`.

Compares the headline metrics of reports/summary.csv (a map's over the lab's square) of a run
(this workspace's, or the experiment or commit --run names) with the same file at a revision
(--rev: a commit, branch or tag, or an experiment's name; HEAD by default), each within a
tolerance on the scale of that revision's own spread: a prediction interval for the difference
of two runs' means, sqrt(2 * (t_s^2 s_s^2 / n_s + t_j^2 s_j^2 / n_j)), with s the standard
deviations over the n seeds and over the n judges and t Student's 99% quantile for n - 1
degrees of freedom. With three seeds the spread is known only roughly, and t says how roughly,
so the check catches a run that went wrong, not a shift of a few per cent (more seeds narrow
it). The tolerance is never below the metric's resolution (one whole unit for a count) nor 1% of
the committed value, and the values it allows are clipped to those the metric can take (its
bounds in latentlab/analysis/metrics.py: a share lies in [0, 1]); a metric whose allowed values
are all it can take is marked "cannot fail".

On the machine that made the commit a rerun is byte-identical; on another CPU the floats differ,
the models and judges train along other paths, and the numbers should move by no more than this.
Runs of different params are not compared: the run's params.yaml must be the revision's but for
how it computes (device, precision, memory_gib), and a workspace's reports/summary.csv the one
dvc.lock records for the report run of these params.

    python -m scripts.check_results [--rev HEAD] [--run EXPERIMENT]

Exit status, one meaning each: 0 every metric agrees, 1 one does not, 2 nothing can be compared
(a missing, malformed or stale file, different params, or a crash).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

import dvc.api
import numpy as np
import pandas as pd
from dvc.exceptions import PathMissingError
from dvc.scm import RevError
from scipy import stats

from latentlab.analysis.metrics import BY_NAME
from latentlab.core.errors import UserError
from latentlab.core.params import parse_yaml
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


def allowed(row: pd.Series) -> tuple[float, float, bool]:
    """The values a fresh run's mean may take: the committed mean give or take the tolerance,
    within the metric's bounds; and whether that is every value it can take (cannot fail)."""
    low, high = BY_NAME[row["metric"]].bounds
    lowest = max(low, row["mean"] - row["tolerance"])
    highest = min(high, row["mean"] + row["tolerance"])
    return lowest, highest, lowest <= low and highest >= high


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
    """params.yaml or dvc.lock as DVC reads them (so that `02000` and `2000` are one value), or
    exit naming the file."""
    try:
        return parse_yaml(text, name)
    except UserError as err:
        refuse(str(err))


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


def committed_file(rev: str | None, path: Path) -> str:
    """A file as committed at `rev` (a git revision or an experiment's name, which DVC's API
    resolves), or as it is in this workspace when `rev` is None; or exit naming it."""
    if rev is None:
        return current_file(path, "run `make repro` first")
    try:
        return dvc.api.read(path.as_posix(), repo=str(REPO), rev=rev)
    except RevError:
        refuse(
            f"{rev!r} is neither a git revision nor an experiment here; `dvc exp list "
            f"--all-commits` lists the experiments (`dvc exp pull <remote> {rev}` fetches one)"
        )
    except PathMissingError:
        refuse(f"{path} is not committed at {rev}; nothing to compare with")


def compare(committed: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """One row per headline metric: committed and current means, tolerance, whether they agree."""
    headline = committed[
        committed.metric.map(lambda m: m in BY_NAME and BY_NAME[m].headline)
        & committed.square.isin(["", "lab"])
    ]
    keys = ["model", "square", "metric"]
    merged = headline.merge(current, on=keys, how="left", suffixes=("", "_now"))
    merged["tolerance"] = merged.apply(tolerance, axis=1)
    merged[["lowest", "highest", "cannot_fail"]] = merged.apply(
        allowed, axis=1, result_type="expand"
    )
    merged["difference"] = merged["mean_now"] - merged["mean"]
    merged["agrees"] = merged["mean_now"].between(merged["lowest"], merged["highest"])
    columns = ["model", "metric", "mean", "mean_now", "difference", "lowest", "highest"]
    return merged[[*columns, "agrees", "cannot_fail"]]


def shown(table: pd.DataFrame, rev: str, run: str) -> str:
    """The comparison as one short table: what was allowed, and whether the run agrees."""
    text = table.assign(
        allowed=[
            f"{lo:.4g} .. {hi:.4g}" for lo, hi in zip(table.lowest, table.highest, strict=True)
        ],
        agrees=[
            ("yes" if ok else "**no**") + (" (cannot fail)" if never else "")
            for ok, never in zip(table.agrees, table.cannot_fail, strict=True)
        ],
    )
    text = text.rename(columns={"mean": f"at {rev}", "mean_now": run})
    columns = ["model", "metric", f"at {rev}", run, "difference", "allowed", "agrees"]
    return text[columns].to_markdown(index=False, floatfmt=".4g")


# How a run computes, not what: runs that differ only in these must agree within tolerance.
HOW_KEYS = ("device", "precision", "memory_gib")


def _what_is_computed(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k not in HOW_KEYS}


def check(rev: str, run_rev: str | None) -> int:
    """Print the comparison of `run_rev` (this workspace when None) with `rev` as one short
    table; 0 when the run agrees, 1 when not."""
    run = run_rev or "this run"
    params = read_yaml(
        committed_file(run_rev, PARAMS), str(PARAMS) if run_rev is None else f"{run_rev}:{PARAMS}"
    )
    at_rev = read_yaml(committed_file(rev, PARAMS), f"{rev}:{PARAMS}")
    if not isinstance(at_rev, dict) or not isinstance(params, dict):
        refuse(f"{PARAMS} at {rev} or of {run} is not a mapping of params sections")
    if _what_is_computed(at_rev) != _what_is_computed(params):
        refuse(
            f"{PARAMS} differs between {run} and {rev} beyond {', '.join(HOW_KEYS)}, so the "
            f"results cannot be compared; compare with the revision or experiment whose params "
            f"made it (--rev)"
        )
    for key in HOW_KEYS:
        if at_rev.get(key) != params.get(key):
            print(f"{key}: {at_rev.get(key)!r} at {rev}, {params.get(key)!r} for {run}")
    if run_rev is None:
        check_summary_is_this_run(params)
    committed = read_summary(io.StringIO(committed_file(rev, SUMMARY)), f"{rev}:{SUMMARY}")
    name = str(SUMMARY) if run_rev is None else f"{run_rev}:{SUMMARY}"
    table = compare(committed, read_summary(io.StringIO(committed_file(run_rev, SUMMARY)), name))
    if table.empty:
        refuse(f"{SUMMARY} at {rev} holds no headline metric; nothing to compare")
    print(shown(table, rev, run))
    bad = int((~table["agrees"]).sum())  # a metric missing from this run disagrees
    never = int(table["cannot_fail"].sum())
    moot = f"; {never} of them cannot fail (allowed: every value it can take)" if never else ""
    if bad:
        print(
            f"\n{bad} of {len(table)} metrics differ from {rev} by more than the "
            f"tolerance: {run} does not agree with it."
        )
        return 1
    print(f"\nAll {len(table)} metrics agree with {rev} within tolerance{moot}.")
    return 0


def main() -> None:
    """Compare, and exit with the status the module docstring gives (2 for a crash too)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rev", default="HEAD", help="the revision or experiment to compare with (HEAD)"
    )
    parser.add_argument(
        "--run", help="the experiment or revision to check (this workspace's run by default)"
    )
    args = parser.parse_args()
    try:
        status = check(args.rev, args.run)
    except Exception as err:  # not "does not agree": nothing was compared
        traceback.print_exc()
        refuse(f"the comparison crashed ({type(err).__name__}: {err}); nothing was compared")
    raise SystemExit(status)


if __name__ == "__main__":
    main()

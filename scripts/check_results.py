"""Does this workspace's run agree with the committed one? `make check-results`.

Compares the headline metrics of reports/summary.csv (a map's over the lab's square) with the
same file as committed at a git revision (HEAD by default), each within a tolerance on the scale
of the committed run's own spread: three standard errors of the difference of two runs' means,
3 * sqrt(2 * (s_seeds^2 / n_seeds + s_judges^2 / n_judges)) with s the standard deviations over
seeds and over judges, and never below the metric's resolution (one whole unit for a count) nor
1% of the committed value. On the machine that made the commit a rerun is byte-identical; on
another CPU the floats differ, the models and judges train along other paths, and the numbers
should move by no more than this.

    python -m scripts.check_results [--rev HEAD]   # exit status 1 when a metric disagrees
"""

from __future__ import annotations

import argparse
import io
import math
import subprocess
from pathlib import Path

import pandas as pd

from latentlab.analysis.metrics import BY_NAME
from latentlab.core.paths import SUMMARY

REPO = Path(__file__).resolve().parents[1]

SIGMAS = 3.0
RELATIVE_FLOOR = 0.01


def committed_summary(rev: str) -> pd.DataFrame:
    """reports/summary.csv as committed at `rev`."""
    shown = subprocess.run(
        ["git", "show", f"{rev}:{SUMMARY.as_posix()}"], cwd=REPO, capture_output=True, text=True
    )
    if shown.returncode != 0:
        raise SystemExit(f"error: {SUMMARY} is not committed at {rev}; nothing to compare with")
    return pd.read_csv(io.StringIO(shown.stdout), keep_default_na=False)


def tolerance(row: pd.Series) -> float:
    """How far a fresh run's mean may be from the committed one (see the module docstring)."""
    variance = row["std_seeds"] ** 2 / max(int(row["seeds"]), 1) + row["std_judges"] ** 2 / max(
        int(row["judges"]), 1
    )
    spread = SIGMAS * math.sqrt(2.0 * variance)
    return max(spread, BY_NAME[row["metric"]].resolution, RELATIVE_FLOOR * abs(row["mean"]))


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


def main() -> None:
    """Print the comparison as one short table and say whether the run agrees."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD", help="the git revision to compare with")
    args = parser.parse_args()
    current_file = REPO / SUMMARY
    if not current_file.is_file():
        raise SystemExit(f"error: {SUMMARY} is missing; run `make repro` first")
    table = compare(committed_summary(args.rev), pd.read_csv(current_file, keep_default_na=False))
    shown = table.rename(columns={"mean": f"at {args.rev}", "mean_now": "this run"})
    shown["agrees"] = shown["agrees"].map({True: "yes", False: "**no**"})
    print(shown.to_markdown(index=False, floatfmt=".4g"))
    bad = int((~table["agrees"]).sum())  # a metric missing from this run disagrees
    if bad:
        print(
            f"\n{bad} of {len(table)} metrics differ from {args.rev} by more than the "
            f"tolerance: this run does not agree with the commit."
        )
        raise SystemExit(1)
    print(f"\nAll {len(table)} metrics agree with {args.rev} within tolerance.")


if __name__ == "__main__":
    main()

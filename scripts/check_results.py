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
Runs of different params are not compared: params.yaml must be the one committed at the revision.

    python -m scripts.check_results [--rev HEAD]

Exit status: 0 when every metric agrees, 1 when one does not, 2 when nothing can be compared.
"""

from __future__ import annotations

import argparse
import io
import math
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pandas as pd
from scipy import stats

from latentlab.analysis.metrics import BY_NAME
from latentlab.core.errors import UserError
from latentlab.core.params import parse_yaml, read_yaml
from latentlab.core.paths import SUMMARY

REPO = Path(__file__).resolve().parents[1]

COVERAGE = 0.99  # of the prediction interval of each metric
RELATIVE_FLOOR = 0.01
PARAMS = Path("params.yaml")
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


def read_summary(source: Path | io.StringIO, name: str) -> pd.DataFrame:
    """A summary table as the report stage writes it, or exit naming the file."""
    try:
        table = pd.read_csv(source, keep_default_na=False)
    except (ValueError, pd.errors.ParserError):  # EmptyDataError is a ValueError
        refuse(f"{name} is not a summary table; rerun `dvc repro report`")
    if not set(SUMMARY_COLUMNS) <= set(table.columns):
        refuse(f"{name} lacks the columns {', '.join(SUMMARY_COLUMNS)}; rerun `dvc repro report`")
    return table


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


def main() -> None:
    """Print the comparison as one short table and say whether the run agrees."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD", help="the git revision to compare with")
    args = parser.parse_args()
    current_file = REPO / SUMMARY
    if not current_file.is_file():
        refuse(f"{SUMMARY} is missing; run `make repro` first")
    try:  # the values as DVC reads them, so that `02000` and `2000` are the same value
        committed_params = parse_yaml(committed_file(args.rev, PARAMS), f"{args.rev}:{PARAMS}")
        current_params = read_yaml(REPO / PARAMS)
    except UserError as err:
        refuse(str(err))
    if committed_params != current_params:
        refuse(
            f"{PARAMS} differs from the one committed at {args.rev}, so the results cannot be "
            f"compared; compare with the revision whose params made this run (--rev)"
        )
    committed = read_summary(
        io.StringIO(committed_file(args.rev, SUMMARY)), f"{args.rev}:{SUMMARY}"
    )
    table = compare(committed, read_summary(current_file, str(SUMMARY)))
    if table.empty:
        refuse(f"{SUMMARY} at {args.rev} holds no headline metric; nothing to compare")
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

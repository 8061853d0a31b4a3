"""`make check-results` (scripts/check_results.py): tolerances clipped to each metric's bounds, and
revisions or experiments to compare; tests/test_pipeline.py runs it on a real run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from scripts import check_results

REPO = Path(__file__).resolve().parents[1]


def summary(rows: list[tuple[str, str, float, float, int]]) -> pd.DataFrame:
    """A summary table of (model, metric, mean, std over seeds, seeds), one judge each, the map
    metrics over the lab's square."""
    return pd.DataFrame(
        [
            (
                model,
                "lab" if metric in ("codes_in_square", "frechet_distance") else "",
                metric,
                mean,
                std,
                0.0,
                seeds,
                1,
            )
            for model, metric, mean, std, seeds in rows
        ],
        columns=list(check_results.SUMMARY_COLUMNS),
    )


COMMITTED = summary(
    [
        ("ae_wide", "codes_in_square", 0.313, 0.2, 3),  # t(0.995, 2) = 9.92: a tolerance > 1
        ("vae", "codes_in_square", 0.9996, 0.0001, 3),
        ("vae", "frechet_distance", 98.6, 40.0, 3),
        ("vae", "test_bce", 258.35, 0.5, 3),
    ]
)


def checked(current: pd.DataFrame) -> pd.DataFrame:
    return check_results.compare(COMMITTED, current).set_index(["model", "metric"])


def test_tolerances_are_clipped_to_the_values_a_metric_can_take():
    table = checked(COMMITTED)
    share = table.loc["ae_wide", "codes_in_square"]
    assert (share.lowest, share.highest, share.cannot_fail) == (0.0, 1.0, True)
    near_one = table.loc["vae", "codes_in_square"]
    assert near_one.highest == 1.0 and 0.98 < near_one.lowest < 0.99  # the 1% floor below
    assert not near_one.cannot_fail
    distance = table.loc["vae", "frechet_distance"]  # no upper bound: it can always fail
    assert distance.lowest == 0.0 and distance.highest > 98.6 * 2 and not distance.cannot_fail
    assert table.agrees.all()


def test_a_value_outside_what_is_allowed_disagrees_and_a_missing_one_too():
    current = COMMITTED.copy()
    # 4.65 away, beyond sqrt(2 * (9.92 * 0.5)^2 / 3) = 4.05 (above 1% of 258.35)
    current.loc[current.metric == "test_bce", "mean"] = 263.0
    current = current[current.metric != "frechet_distance"]
    table = checked(current)
    assert not table.loc["vae", "test_bce"].agrees
    assert not table.loc["vae", "frechet_distance"].agrees
    assert table.loc["ae_wide", "codes_in_square"].agrees


def test_the_table_marks_what_cannot_fail():
    text = check_results.shown(check_results.compare(COMMITTED, COMMITTED), "HEAD", "this run")
    rows = {
        line.split("|")[1].strip() + " " + line.split("|")[2].strip(): line
        for line in text.splitlines()[2:]
    }
    assert "0 .. 1" in rows["ae_wide codes_in_square"]
    assert rows["ae_wide codes_in_square"].rstrip(" |").endswith("yes (cannot fail)")
    assert rows["vae test_bce"].rstrip(" |").endswith("yes")


def test_an_unknown_revision_is_refused_naming_it(capsys):
    with pytest.raises(SystemExit) as stop:
        check_results.committed_file("no-such-experiment", check_results.PARAMS)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 'no-such-experiment' is neither a git revision nor an experiment")


def test_make_passes_the_revision_and_the_run_on():
    dry_run = subprocess.run(
        ["make", "-s", "-n", "check-results", "REV=frank-alga", "RUN=muley-cols"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "python -m scripts.check_results --rev 'frank-alga' --run 'muley-cols'" in dry_run

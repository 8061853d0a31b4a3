"""The results committed from the last full default `dvc repro`: present, current and sound.

Git holds dvc.lock and the report's files (reports/); every stage's own outputs are in DVC's
cache, so these tests read what git holds: a fresh clone can run them without `dvc pull`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from latentlab.analysis.metrics import BY_NAME
from latentlab.core import params

REPO = Path(__file__).resolve().parents[1]
RAN = (REPO / "dvc.lock").exists() and (REPO / "reports/summary.csv").exists()
pytestmark = pytest.mark.skipif(
    not RAN, reason="no dvc.lock or reports/summary.csv: the default pipeline was never run"
)
P = params.load(REPO / "params.yaml", REPO / "dvc.yaml")
SUMMARY = pd.read_csv(REPO / "reports/summary.csv", keep_default_na=False) if RAN else None


def test_committed_run_used_the_default_params() -> None:
    raw = params.read_yaml(REPO / "params.yaml")
    lock = params.read_yaml(REPO / "dvc.lock")["stages"]
    assert lock["train@vae"]["params"]["params.yaml"]["vae"] == raw["vae"]
    assert lock["train@vae"]["params"]["params.yaml"]["data.limit"] == 0
    assert lock["report"]["params"]["params.yaml"] == raw


def test_the_judges_are_good_classifiers() -> None:
    (judges,) = SUMMARY[SUMMARY.model == "judge"].itertuples()
    assert judges.metric == "test_accuracy" and judges.seeds == len(P.judge.seeds)
    assert judges.mean >= 0.88 and judges.mean - 3 * judges.std_seeds >= 0.86


def test_headline_metrics_are_finite() -> None:
    headline = json.loads((REPO / "reports/metrics.json").read_text())
    values = [v for model in P.report.models for v in headline[model].values()]
    assert all(isinstance(v, float) and v == v for v in values)
    assert headline["vae"]["log_likelihood"] < 0 < headline["vae"]["test_bce"]


def test_every_run_is_summarised_and_the_report_has_its_figures() -> None:
    for model in P.report.models:
        rows = SUMMARY[SUMMARY.model == model]
        assert {BY_NAME[m].stage for m in rows.metric} == {
            "train",
            "evaluate",
            "render",
            "interpolate",
        }
        assert (rows.seeds == len(P.seeds)).all(), model
        assert Image.open(REPO / f"reports/figures/map_{model}.png").size == (588, 588)
    report = (REPO / "reports/report.md").read_text()
    assert "## The answer" in report and "| claim" in report
    for figure in report.split("](figures/")[1:]:
        assert (REPO / "reports/figures" / figure.split(")")[0]).is_file()


def test_the_lock_holds_exactly_the_pipeline_s_stages() -> None:
    """DVC keeps a removed stage's entry in dvc.lock; the committed lock must not."""
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    models = next(v["models"] for v in pipeline["vars"] if "models" in v)
    expected = {
        f"{name}@{m}" if "foreach" in stage else name
        for name, stage in pipeline["stages"].items()
        for m in (models if "foreach" in stage else [None])
    }
    assert set(yaml.safe_load((REPO / "dvc.lock").read_text())["stages"]) == expected


def outside_bounds(values: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The (metric, value) pairs that lie outside their metric's bounds."""
    return [(m, v) for m, v in values if not BY_NAME[m].bounds[0] <= v <= BY_NAME[m].bounds[1]]


def test_every_committed_value_lies_within_its_metric_s_bounds() -> None:
    """The bounds check-results clips its tolerances to, on the run's means."""
    values = [(row.metric, row.mean) for row in SUMMARY.itertuples()]
    assert len(values) > 100 and outside_bounds(values) == []


CALIBRATION = REPO / "runs/judge/calibration.json"


@pytest.mark.skipif(
    not CALIBRATION.exists(), reason=f"{CALIBRATION.relative_to(REPO)} is in DVC's cache only"
)
def test_images_of_known_realism_lie_within_the_metrics_bounds() -> None:
    """The calibrate stage's images (noise among them, where the measures reach their ends)."""
    calibration = json.loads(CALIBRATION.read_text())
    values = [
        (metric, value)
        for measured in calibration.values()
        for metric, per_judge in measured.items()
        for value in per_judge
    ]
    assert len(values) > 20 and outside_bounds(values) == []

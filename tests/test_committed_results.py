"""The results committed from the last full default `dvc repro`: present, current and sound."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    not (REPO / "dvc.lock").exists(), reason="no dvc.lock: the default pipeline was never run"
)


def test_committed_run_used_the_default_params() -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    lock = yaml.safe_load((REPO / "dvc.lock").read_text())["stages"]
    assert lock["train@vae-1"]["params"]["params.yaml"]["vae"] == params["vae"]
    assert lock["train@vae-1"]["params"]["params.yaml"]["data.limit"] == 0


def test_judge_reaches_its_accuracy_on_the_full_data() -> None:
    accuracy = json.loads((REPO / "runs/judge/metrics.json").read_text())["test_accuracy"]
    assert accuracy >= 0.90


def test_every_model_and_seed_has_metrics_and_the_report_exists() -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    summary = json.loads((REPO / "reports/summary.json").read_text())
    for model in params["models"]:
        assert summary[model]["test_bce"]["mean"] > 0
        maps = json.loads((REPO / f"maps/{model}.json").read_text())
        assert sorted(maps) == sorted(f"seed{seed}" for seed in params["seeds"])
        for metrics in maps.values():
            assert 0 <= metrics["codes_in_square"] <= 1
    report = (REPO / "reports/report.md").read_text()
    assert "| claim |" in report and "figures/latent_maps.png" in report
    assert (REPO / "reports/figures/latent_maps.png").stat().st_size > 10_000

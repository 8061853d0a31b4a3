"""The balls stage's arrays (latentlab/balls.py): drawn once, read back only by stages that run
with the judges' features and the params they were drawn from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from latentlab import balls
from latentlab.analysis.realism import real_subsets, subset_balls
from latentlab.core import paths
from latentlab.core.errors import UserError
from latentlab.core.params import declared_models, validate

DECLARED = declared_models(Path(__file__).resolve().parents[1] / "dvc.yaml")
JUDGES, TEST_IMAGES, WIDTH = 2, 500, 8


@pytest.fixture
def small(default_params: dict[str, Any], tmp_path: Path, monkeypatch) -> dict[str, Any]:
    """Params of small subsets, and paths.REAL_BALLS in a scratch folder."""
    monkeypatch.setattr(paths, "REAL_BALLS", tmp_path / "balls.npz")
    default_params["realism"].update(subsets=2, k=3)
    default_params["latent_map"]["grid"] = 7
    default_params["interpolate"].update(pairs=10, steps=5)
    return default_params


def features(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(JUDGES, TEST_IMAGES, WIDTH)).astype("f4")


def drawn(raw: dict[str, Any]) -> None:
    balls.save(balls.draw(validate(raw, DECLARED), features()))


@pytest.mark.parametrize(("use", "size"), [("map", 49), ("interpolate", 40)])
def test_the_balls_read_back_are_those_each_stage_drew_before(small, use, size) -> None:
    drawn(small)
    p = validate(small, DECLARED)
    got = balls.load(p, use, list(features()))
    subsets = real_subsets(TEST_IMAGES, size, 2, p.realism.seed)
    for judge, judge_balls in enumerate(got):
        expected = subset_balls(features()[judge], 3, subsets)
        assert len(judge_balls) == 2
        for ball, want in zip(judge_balls, expected, strict=True):
            assert np.array_equal(ball.radii_squared, want.radii_squared)


@pytest.mark.parametrize(
    "change",
    [
        ("features", None),
        ("realism", {"k": 4}),
        ("realism", {"subsets": 3}),
        ("realism", {"seed": 99}),
        ("latent_map", {"grid": 9}),
        ("interpolate", {"pairs": 12}),
    ],
)
def test_balls_from_other_judges_or_params_are_refused_naming_the_stage(small, change) -> None:
    drawn(small)
    section, edit = change
    judge_features = list(features(seed=1 if section == "features" else 0))
    if edit:
        small[section].update(edit)
    use = "interpolate" if section == "interpolate" else "map"
    with pytest.raises(UserError, match=r"balls\.npz was drawn .*; rerun `dvc repro balls`"):
        balls.load(validate(small, DECLARED), use, judge_features)


def test_fewer_judges_than_the_balls_were_drawn_for_are_refused(small) -> None:
    drawn(small)
    with pytest.raises(UserError, match="rerun `dvc repro balls`"):
        balls.load(validate(small, DECLARED), "map", list(features())[:1])

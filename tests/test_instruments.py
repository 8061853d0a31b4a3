"""When the instruments are too weak for a verdict (latentlab/report/instruments.py): the judges'
accuracy floor and the separation of real images from noise, on calibration tables with known
answers."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from latentlab.report import instruments, results
from latentlab.report.answer import CLAIM_MEASURES

GOOD = instruments.JUDGE_ACCURACY_FLOOR + 0.05
BAD = instruments.JUDGE_ACCURACY_FLOOR - 0.05


def calibration(real: dict[str, list[float]], noise: dict[str, list[float]]) -> pd.DataFrame:
    """A calibrate stage's table (results.gather_calibration) from per-judge values of real
    images and of noise; blurred images and ghosts score as noise."""
    rows = []
    for reference, values in (
        ("real", real),
        ("blurred", noise),
        ("ghosts", noise),
        ("noise", noise),
    ):
        for metric, per_judge in values.items():
            rows += [(reference, metric, j, v) for j, v in enumerate(per_judge, start=1)]
    return pd.DataFrame(rows, columns=results.CALIBRATION_COLUMNS)


def test_the_separation_is_the_judges_mean_and_spread_of_real_minus_noise():
    cal = calibration(
        {"coverage": [0.9, 0.8, 0.7], "frechet_distance": [4.0, 5.0, 6.0]},
        {"coverage": [0.1, 0.1, 0.1], "frechet_distance": [300.0, 200.0, 100.0]},
    )
    assert instruments.separation(cal, "coverage") == pytest.approx((0.7, 0.1))
    # lower is better: noise's distance minus real images'
    assert instruments.separation(cal, "frechet_distance") == pytest.approx((195.0, 101.0))
    one = cal[cal.judge == 1]
    gap, spread = instruments.separation(one, "coverage")
    assert gap == pytest.approx(0.8) and math.isnan(spread)


def clearly_separated() -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per-judge values of real images and of noise on every judge-based claim measure, real
    images far better in each measure's direction (the Frechet distance: lower)."""
    judged = ["coverage", "classes_present", "inception_score", "precision", "frechet_distance"]
    real = {m: [10.0, 10.2, 9.8] for m in judged}
    noise = {m: [1.0, 1.1, 0.9] for m in judged}
    real["frechet_distance"], noise["frechet_distance"] = (
        noise["frechet_distance"],
        real["frechet_distance"],
    )
    return real, noise


def test_a_clear_separation_and_accurate_judges_leave_every_measure_fit():
    # precision also calibrates the paths' middle-image precision, computed as it is
    real, noise = clearly_separated()
    assert instruments.too_weak(calibration(real, noise), GOOD, list(CLAIM_MEASURES)) == {}


def test_judges_below_the_accuracy_floor_weaken_every_judge_based_measure_only():
    real, noise = clearly_separated()
    weak = instruments.too_weak(calibration(real, noise), BAD, list(CLAIM_MEASURES))
    assert set(weak) == set(CLAIM_MEASURES) - {"path_evenness"}  # evenness is in pixels
    assert all(
        reasons
        == (
            f"the judges' mean test accuracy is {BAD:.2f}, below the floor of "
            f"{instruments.JUDGE_ACCURACY_FLOOR:.2f}",
        )
        for reasons in weak.values()
    )


@pytest.mark.parametrize(
    ("real", "noise", "words"),
    [
        ([0.5, 0.5, 0.5], [0.6, 0.6, 0.6], "real images score no better than noise on precision"),
        # a lead of 0.2 against a spread of 0.1: not 3 spreads clear
        ([0.6, 0.7, 0.8], [0.5, 0.5, 0.5], "lead noise on precision by 0.2, not more than 3 times"),
    ],
    ids=["reversed", "unclear"],
)
def test_a_measure_that_does_not_tell_real_images_from_noise_is_too_weak(real, noise, words):
    cal = calibration({"precision": real}, {"precision": noise})
    weak = instruments.too_weak(cal, GOOD, ["precision", "path_middle_precision", "path_evenness"])
    assert set(weak) == {"precision", "path_middle_precision"}
    assert len(weak["precision"]) == 1 and words in weak["precision"][0]
    # the paths' middle-image precision is precision's instrument, and says so
    derived = words.replace(
        "on precision", "on precision (which path middle precision is computed as)"
    )
    assert weak["path_middle_precision"] == (weak["precision"][0].replace(words, derived),)


def test_with_one_judge_no_separation_can_be_measured():
    cal = calibration({"coverage": [0.9]}, {"coverage": [0.1]})
    assert instruments.too_weak(cal, GOOD, ["coverage"]) == {
        "coverage": (
            "with one judge, real images' lead over noise has no spread to be held against",
        )
    }

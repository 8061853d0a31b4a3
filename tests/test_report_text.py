"""The report's sentences: each combination of verdicts gets the sentence that says it."""

from __future__ import annotations

import pandas as pd
import pytest

from latentlab.analysis.measures import REFERENCE_SETS
from latentlab.report.comparison import (
    CLAIMS,
    MIXED,
    NOT_DECIDED,
    NOT_SUPPORTED,
    SUPPORTED,
    ClaimResult,
    ClaimVerdict,
    MeasureVerdict,
)
from latentlab.report.text import (
    REFERENCES,
    _gains_text,
    calibration_sentence,
    capacity_sentence,
    claim_sentences,
    fooled_by,
)

MAP_CLAIM, PATH_CLAIM = CLAIMS[0], CLAIMS[1]


def result(claim, lab: str, matched: str, own: str | None = None, undecided: int = 0):
    """A claim against `ae` (the lab's) and `ae_wide` (capacity-matched), with their verdicts."""
    verdicts = {"ae": ClaimVerdict(lab, 0, 2), "ae_wide": ClaimVerdict(matched, undecided, 2)}
    own_verdicts = (
        {} if own is None else {"ae": ClaimVerdict(own, 0, 2), "ae_wide": ClaimVerdict(own, 0, 2)}
    )
    return ClaimResult(claim, {}, verdicts, {}, own_verdicts)


@pytest.mark.parametrize(
    ("lab", "matched", "own", "words"),
    [
        (SUPPORTED, SUPPORTED, SUPPORTED, "the VAE objective explains it, not capacity"),
        (SUPPORTED, SUPPORTED, NOT_SUPPORTED, "capacity explains the map's quality"),
        (SUPPORTED, SUPPORTED, MIXED, "it holds over the lab's square but is mixed over"),
        (SUPPORTED, NOT_SUPPORTED, None, "capacity explains it, not the VAE objective"),
        # Without an advantage over the lab's autoencoder there is nothing to attribute.
        (MIXED, NOT_SUPPORTED, None, "capacity-matched `ae_wide` it is not supported)"),
        (MIXED, MIXED, None, "Without a consistent advantage over the lab's `ae`, there is"),
        (NOT_SUPPORTED, NOT_SUPPORTED, None, "nothing for the VAE objective or capacity"),
        (NOT_SUPPORTED, SUPPORTED, SUPPORTED, "capacity-matched `ae_wide` it is supported)"),
        (NOT_DECIDED, SUPPORTED, None, "Without a consistent advantage over the lab's `ae`"),
        (SUPPORTED, MIXED, None, "the evidence is mixed"),
        (SUPPORTED, NOT_DECIDED, None, "whether the objective or capacity explains it is open"),
    ],
)
def test_capacity_sentence_follows_the_verdicts(lab, matched, own, words):
    claim = MAP_CLAIM if own is not None else PATH_CLAIM
    sentence = capacity_sentence(result(claim, lab, matched, own), ["ae"], ["ae_wide"])
    assert words in sentence
    assert "`ae_wide`" in sentence
    if lab != SUPPORTED:
        assert "explains it" not in sentence


def test_a_partly_decided_verdict_is_hedged_and_said():
    r = result(PATH_CLAIM, SUPPORTED, SUPPORTED, undecided=1)
    assert "(on its decided measures)" in capacity_sentence(r, ["ae"], ["ae_wide"])
    assert "supported against `ae_wide` (1 of 2 measures not decided)" in claim_sentences(
        r, ["ae"], ["ae_wide"]
    )


def test_without_a_capacity_matched_autoencoder_nothing_is_said_about_capacity():
    sentence = capacity_sentence(result(MAP_CLAIM, SUPPORTED, SUPPORTED, SUPPORTED), ["ae"], [])
    assert "cannot be told apart" in sentence


@pytest.mark.parametrize("matched", [NOT_SUPPORTED, MIXED])
def test_without_a_lab_autoencoder_nothing_is_put_down_to_capacity(matched):
    sentence = capacity_sentence(result(PATH_CLAIM, SUPPORTED, matched), [], ["ae_wide"])
    assert f"It is {matched} against the capacity-matched `ae_wide`" in sentence
    assert "no advantage to put down" in sentence and "explains" not in sentence


def test_the_report_names_every_reference_set():
    assert list(REFERENCES) == list(REFERENCE_SETS)


def test_with_only_the_capacity_matched_autoencoder_the_sentence_still_decides():
    r = result(MAP_CLAIM, SUPPORTED, SUPPORTED, SUPPORTED)
    assert "VAE objective explains it" in capacity_sentence(r, [], ["ae_wide"])


def test_the_gains_column_shows_each_seeds_gain_against_its_noise():
    m = MeasureVerdict(
        "coverage",
        "vae",
        "ae",
        [0.16, -0.0056, 175.3],
        [0.016, 0.0016, 19.4],
        [True, False, True],
        MIXED,
        6,
    )
    assert _gains_text(m) == "+0.16 > 0.016, -0.0056 ≤ 0.0016, +175 > 19"


def calibration(values: dict[str, dict[str, float]]) -> pd.DataFrame:
    """A calibrate stage's summary: values[reference][metric] -> mean."""
    rows = [(r, m, v, 0.0) for r, by in values.items() for m, v in by.items()]
    return pd.DataFrame(rows, columns=["reference", "metric", "mean", "std_judges"])


def test_a_reference_fools_a_measure_when_it_is_nearer_real_images_than_noise():
    cal = calibration(
        {
            "real": {"precision": 0.9, "coverage": 0.9, "frechet_distance": 4.0},
            "blurred": {"precision": 0.6, "coverage": 0.02, "frechet_distance": 300.0},
            "ghosts": {"precision": 0.7, "coverage": 0.3, "frechet_distance": 100.0},
            "noise": {"precision": 0.2, "coverage": 0.01, "frechet_distance": 350.0},
        }
    )
    assert fooled_by(cal, "precision") == ["blurred", "ghosts"]
    assert fooled_by(cal, "coverage") == []
    assert fooled_by(cal, "frechet_distance") == ["ghosts"]  # lower is better: 100 is near 4
    sentence = calibration_sentence(cal)
    assert "blurred training images on *precision*;" in sentence
    assert "ghosts (two items averaged) on *precision*, *frechet distance*." in sentence
    assert "Neither passes for items on *coverage*." in sentence


def test_a_measure_on_which_real_images_do_not_beat_noise_is_said_to_measure_nothing():
    cal = calibration(
        {
            "real": {"coverage": 0.1},
            "blurred": {"coverage": 0.1},
            "ghosts": {"coverage": 0.1},
            "noise": {"coverage": 0.2},
        }
    )
    assert fooled_by(cal, "coverage") is None
    sentence = calibration_sentence(cal)
    assert "no better than noise on *coverage*: it measures nothing here." in sentence
    assert "closer to real images" not in sentence

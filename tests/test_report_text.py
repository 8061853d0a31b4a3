"""The report's sentences: each combination of verdicts gets the sentence that says it."""

from __future__ import annotations

import pytest

from latentlab.report.comparison import (
    CLAIMS,
    MIXED,
    NOT_DECIDED,
    NOT_SUPPORTED,
    SUPPORTED,
    ClaimResult,
    ClaimVerdict,
)
from latentlab.report.text import capacity_sentence, claim_sentences

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
        (MIXED, NOT_SUPPORTED, None, "capacity explains it, not the VAE objective"),
        (NOT_SUPPORTED, NOT_SUPPORTED, None, "does not hold against the capacity-matched"),
        (NOT_SUPPORTED, SUPPORTED, SUPPORTED, "the VAE objective explains it"),
        (SUPPORTED, MIXED, None, "the evidence is mixed"),
        (SUPPORTED, NOT_DECIDED, None, "whether the objective or capacity explains it is open"),
    ],
)
def test_capacity_sentence_follows_the_verdicts(lab, matched, own, words):
    claim = MAP_CLAIM if own is not None else PATH_CLAIM
    sentence = capacity_sentence(result(claim, lab, matched, own), ["ae"], ["ae_wide"])
    assert words in sentence
    assert "`ae_wide`" in sentence


def test_a_partly_decided_verdict_is_hedged_and_said():
    r = result(PATH_CLAIM, SUPPORTED, SUPPORTED, undecided=1)
    assert "(on its decided measures)" in capacity_sentence(r, ["ae"], ["ae_wide"])
    assert "supported against `ae_wide` (1 of 2 measures not decided)" in claim_sentences(
        r, ["ae"], ["ae_wide"]
    )


def test_without_a_capacity_matched_autoencoder_nothing_is_said_about_capacity():
    sentence = capacity_sentence(result(MAP_CLAIM, SUPPORTED, SUPPORTED, SUPPORTED), ["ae"], [])
    assert "cannot be told apart" in sentence


def test_with_only_the_capacity_matched_autoencoder_the_sentence_still_decides():
    r = result(MAP_CLAIM, SUPPORTED, SUPPORTED, SUPPORTED)
    assert "VAE objective explains it" in capacity_sentence(r, [], ["ae_wide"])

"""The report's sentences: each combination of verdicts gets the sentence that says it."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latentlab.analysis.measures import REFERENCE_SETS
from latentlab.analysis.metrics import HIGHER, Metric, written_by
from latentlab.core.params import declared_models, validate
from latentlab.report import comparison, factorial, instruments, results, text
from latentlab.report.answer import (
    CLAIM_MEASURES,
    REFERENCES,
    calibration_lines,
    capacity_sentence,
    claim_sentences,
    fooled_by,
    sign_test_sentence,
)
from latentlab.report.comparison import (
    CLAIMS,
    MIXED,
    NOT_DECIDED,
    NOT_SUPPORTED,
    SUPPORTED,
    ClaimResult,
    ClaimVerdict,
    MeasureVerdict,
    claim_results_by_vae,
    verdict_record,
)
from latentlab.report.text import _gains_text

MAP_CLAIM, PATH_CLAIM = CLAIMS[0], CLAIMS[1]
DECLARED = declared_models(Path(__file__).resolve().parents[1] / "dvc.yaml")


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
        (NOT_DECIDED, SUPPORTED, None, "Against the lab's `ae` it is not decided, so whether"),
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
    verdicts, capacity = claim_sentences(r, ["ae"], ["ae_wide"])
    assert "supported against `ae_wide` (1 of 2 measures not decided)" in verdicts
    assert capacity == capacity_sentence(r, ["ae"], ["ae_wide"])


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
    one_judge = MeasureVerdict("coverage", "vae", "ae", [0.1], [float("nan")], [False], MIXED, 1)
    assert _gains_text(one_judge) == "+0.1 ≤ ?"


def calibration(values: dict[str, dict[str, float]]) -> pd.DataFrame:
    """A calibrate stage's table (results.gather_calibration) of two judges that agree:
    values[reference][metric] -> value."""
    rows = [(r, m, j, v) for r, by in values.items() for m, v in by.items() for j in (1, 2)]
    return pd.DataFrame(rows, columns=results.CALIBRATION_COLUMNS)


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
    lines = calibration_lines(cal)
    assert "- blurred training images on *precision*" in lines
    assert "- ghosts (two items averaged) on *precision*, *frechet distance*" in lines
    assert "Neither passes for items on *coverage*." in lines


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
    sentence = " ".join(calibration_lines(cal))
    assert "no better than noise on *coverage*: it measures nothing here." in sentence
    assert "closer to real images" not in sentence


# The whole report, from a synthetic run of every compared model


def value(rng: np.random.Generator, metric: Metric) -> float:
    """A value within the metric's bounds (300 wide where one side is open), whole for a count."""
    low, high = metric.bounds
    if np.isfinite(low) and np.isfinite(high):
        drawn = rng.uniform(low, high)
    elif np.isfinite(low) or np.isfinite(high):
        edge = low if np.isfinite(low) else high - 300
        drawn = rng.uniform(edge, edge + 300)
    else:
        drawn = rng.normal()
    return float(round(drawn)) if metric.resolution else float(drawn)


def synthetic_run(p, accuracy: float = 0.89, seed: int = 0):
    """The long table, per-item table and calibration table of a run of every compared model
    with values drawn within each metric's bounds (counts whole), judges of `accuracy`, and a
    calibration whose real images stand clear of noise."""
    rng = np.random.default_rng(seed)
    judges = p.judge.seeds
    rows = [("judge", j, "", "test_accuracy", j, accuracy) for j in judges]
    items = []
    for m in p.compared:
        for s in p.seeds:
            for stage in results.RUN_STAGES:
                for metric in written_by(stage, m.kind):
                    squares = ("lab", "own") if stage == "render" else ("",)
                    for square in squares:
                        for j in judges if metric.per_judge else [0]:
                            rows.append((m.name, s, square, metric.name, j, value(rng, metric)))
                    if metric.per_item:
                        items += [(m.name, s, metric.name, i, rng.uniform()) for i in range(5)]
    calibration = []
    for metric in (m for m in written_by("render") if m.per_judge):
        sign = 1 if metric.better == HIGHER else -1
        for reference, level in (("real", 9), ("blurred", 3), ("ghosts", 5), ("noise", 1)):
            calibration += [
                (reference, metric.name, j, sign * level + rng.normal(0, 0.1)) for j in judges
            ]
    return (
        pd.DataFrame(rows, columns=results.COLUMNS),
        pd.DataFrame(items, columns=results.ITEM_COLUMNS),
        pd.DataFrame(calibration, columns=results.CALIBRATION_COLUMNS),
    )


FIGURES = [
    f"{name}.png"
    for name in (
        "maps",
        "cells",
        "own_squares",
        "interpolations",
        "reconstructions",
        "prior_samples",
        "evolution",
        "training_curves",
        "tile_classes",
        *(f"{kind}_{m}" for kind in ("map", "data") for m in [*DECLARED, "vae_b"]),
    )
]


def whole_report(raw, accuracy: float = 0.89, declared=DECLARED) -> tuple[str, dict]:
    """reports/report.md and reports/verdicts.json of a synthetic run with params `raw`."""
    p = validate(raw, declared)
    table, items, cal = synthetic_run(p, accuracy)
    summary = results.summarise(table)
    weak = instruments.too_weak(cal, accuracy, list(CLAIM_MEASURES))
    verdicts = claim_results_by_vae(p, table, items, weak)
    cells = factorial.design_cells(p)
    fact = factorial.factorial(cells, table, items, weak) if cells else None
    record = verdict_record(verdicts, factorial.mechanism_record(fact) if fact else None)
    return text.report(p, summary, table, verdicts, fact, cal, FIGURES), record


def prose(report: str) -> list[str]:
    """The report's lines that are prose: not a table's row, not a figure."""
    return [
        line
        for line in report.splitlines()
        if not line.startswith("|") and "](figures/" not in line
    ]


def first_screen(report: str) -> str:
    return report[: report.index("## The answer")]


@pytest.fixture
def raw(repo_params):
    return copy.deepcopy(repo_params)


def with_second_vae(raw):
    """Params comparing a second VAE with its KL term, `vae_b`, besides the repository's."""
    raw["vae_b"] = {**raw["vae"], "beta": 2}
    raw["report"]["models"] = [*raw["report"]["models"], "vae_b"]
    return raw


def test_the_first_screen_answers_in_short_paragraphs(raw):
    raw = with_second_vae(raw)
    vaes, aes = comparison.vaes_and_aes(validate(raw, [*DECLARED, "vae_b"]))
    assert {"vae", "vae_b"} <= set(vaes) and {"ae", "ae_wide"} <= set(aes)
    report, record = whole_report(raw, declared=[*DECLARED, "vae_b"])
    lines = report.splitlines()
    headings = [line for line in lines if line.startswith("#")]
    assert headings[:3] == [
        "# AE vs VAE latent spaces on Fashion-MNIST (2-D codes)",
        "## The verdicts at a glance",
        "## The answer",
    ]
    assert len(headings) == len(set(headings))  # unique, with two VAEs compared
    assert "## The write-up's claims, measured, for `vae_b`" in headings
    # the title, a one-line provenance, then the verdicts table
    assert lines[2].startswith("Generated by the `report` stage") and lines[3] == ""
    glance = [line for line in first_screen(report).splitlines() if line.startswith("|")]
    assert [c.strip() for c in glance[0].split("|")[1:-1]] == [
        "claim",
        *(f"`{vae}` vs `{ae}`" for vae in vaes for ae in aes),
        "what carries it (2 x 2 design)",
    ]
    assert len(glance) == 2 + len(CLAIMS)
    for claim, row in zip(CLAIMS, glance[2:], strict=True):
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert cells[0] == claim.text
        assert cells[1:-1] == [record[v][a][claim.key] for v in vaes for a in aes]
        assert cells[-1] == record["mechanism"][claim.key]
    assert "**What the instruments allow.** The judges' mean test accuracy is 0.89" in report
    too_long = [line for line in prose(report) if len(line) > 350]
    assert too_long == []


def test_counts_are_whole_numbers(raw):
    report, _ = whole_report(raw)
    shown = re.findall(r"- `(\w+)`: covers \d+%, shows (\d+)(?: to (\d+))? kinds? of item", report)
    assert [m for m, *_ in shown] == raw["report"]["models"]
    assert all(not high or int(low) < int(high) for _, low, high in shown)
    assert not re.search(r"\d\.\d+ kinds? of item", report)


@pytest.mark.parametrize(
    ("seeds", "words"),
    [
        (3, "a one-sided sign-test p of 0.125 (0.5^3): weak evidence on its own (above 0.05)"),
        (10, "a one-sided sign-test p of 0.000977 (0.5^10): below 0.05 on its own"),
    ],
)
def test_the_sign_test_sentence_is_right_for_any_number_of_seeds(seeds, words):
    assert words in sign_test_sentence(seeds)
    assert ("weak" in sign_test_sentence(seeds)) == (0.5**seeds > 0.05)


def test_a_quick_run_says_it_proves_nothing(raw):
    raw["seeds"], raw["judge"]["seeds"] = [1], [1]
    report, record = whole_report(raw, accuracy=0.53)
    screen = first_screen(report)
    assert "**This run proves nothing about the write-up's claims**" in screen
    weak = "the judges' mean test accuracy is 0.53, below the floor of 0.80"
    assert f"not decided (instruments too weak: {weak})" in screen
    assert "not decided (too few seeds: 1, and a verdict needs 2 or more)" in screen
    glance = [line for line in screen.splitlines() if line.startswith("| ") and "claim" not in line]
    assert glance and all(
        set(c.strip() for c in row.split("|")[2:-1]) == {NOT_DECIDED} for row in glance
    )
    assert {v for per_ae in record["vae"].values() for v in per_ae.values()} == {NOT_DECIDED}
    assert set(record["mechanism"].values()) == {NOT_DECIDED}
    assert "supported" not in screen.replace("not supported", "")


def test_without_a_complete_design_one_sentence_says_so(raw):
    raw["report"]["models"] = ["ae", "vae", "ae_wide"]
    report, record = whole_report(raw)
    assert "no complete 2 x 2 design of the two mechanisms" in report
    assert "## Why the maps differ" not in report and "figures/cells.png" not in report
    assert "what carries it" not in first_screen(report) and "mechanism" not in record

"""The mechanisms' factorial (latentlab/report/factorial.py) and its report pieces
(latentlab/report/mechanisms.py) on synthetic tables with known effects."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pandas as pd
import pytest

from latentlab.analysis.metrics import BY_NAME, HIGHER
from latentlab.core.params import declared_models, validate
from latentlab.report import comparison, factorial, mechanisms, results
from latentlab.report.comparison import (
    CLAIMS,
    MIXED,
    NOT_DECIDED,
    NOT_SUPPORTED,
    SUPPORTED,
    ClaimVerdict,
    measure_verdict,
)
from latentlab.report.factorial import (
    ADVANTAGE,
    DISTRIBUTIONS,
    EFFECTS,
    LESS,
    MORE,
    PRIOR,
    Cells,
)

DECLARED = declared_models(Path(__file__).resolve().parents[1] / "dvc.yaml")
CELLS = Cells(
    points="ae_wide", points_prior="wae", distributions="vae_nokl", distributions_prior="vae"
)
JUDGES = [1, 2, 3]
SEEDS = 3
NOISE = 0.01  # the points cell's judges and paths scatter by this, symmetrically
ITEMS = [NOISE, -NOISE, NOISE, -NOISE]  # four paths, each off its mean by this
BASE = 0.5


def tables(
    distributions: float = 0.0, prior: float = 0.0, together: float = 0.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The long table and the per-item table of every claim measure for the four cells: each
    cell's value is BASE plus, in the measure's better direction, `distributions` where it
    encodes distributions, `prior` where it has a prior term, and `together` where it has both.
    Only the points cell scatters over the judges (+NOISE, -NOISE, 0) and the paths (ITEMS), so
    an effect of 0 is 0 on average and within its noise however a judge is left out."""
    rows, items = [], []
    for claim in CLAIMS:
        for metric in claim.measures:
            sign = 1.0 if BY_NAME[metric].better == HIGHER else -1.0
            for model in CELLS.in_rows():
                d = model in (CELLS.distributions, CELLS.distributions_prior)
                p = model in (CELLS.points_prior, CELLS.distributions_prior)
                value = BASE + sign * (distributions * d + prior * p + together * (d and p))
                scatter = model == CELLS.points
                square = comparison.square_of(metric)
                for seed in range(1, SEEDS + 1):
                    if BY_NAME[metric].per_judge:
                        offsets = [NOISE, -NOISE, 0.0] if scatter else [0.0] * 3
                        cells = [(j, value + o) for j, o in zip(JUDGES, offsets, strict=True)]
                    else:
                        cells = [(0, value)]
                    rows += [(model, seed, square, metric, j, v) for j, v in cells]
                    if BY_NAME[metric].per_item:
                        offsets = ITEMS if scatter else [0.0] * len(ITEMS)
                        items += [
                            (model, seed, metric, i, value + o) for i, o in enumerate(offsets)
                        ]
    return (
        pd.DataFrame(rows, columns=results.COLUMNS),
        pd.DataFrame(items, columns=results.ITEM_COLUMNS),
    )


def claim_verdicts(**effects: float) -> dict[str, dict[str, str]]:
    """Per claim, each effect's verdict over its measures, on tables(**effects)."""
    fact = factorial.factorial(CELLS, *tables(**effects))
    return {c.key: {e: v.verdict for e, v in fact.claim(c).items()} for c in CLAIMS}


def test_one_main_effect_without_interaction_is_found_and_nothing_else():
    fact = factorial.factorial(CELLS, *tables(distributions=0.3))
    for metric in (m for c in CLAIMS for m in c.measures):
        gains = {e: fact.effects[e][metric].gains for e in EFFECTS}
        assert gains[DISTRIBUTIONS] == pytest.approx([0.3] * SEEDS)
        assert gains[ADVANTAGE] == pytest.approx([0.3] * SEEDS)  # vae against ae_wide
        for e in (PRIOR, MORE, LESS):
            assert gains[e] == pytest.approx([0.0] * SEEDS, abs=1e-12)
        verdicts = {e: fact.effects[e][metric].verdict for e in EFFECTS}
        assert verdicts == {
            ADVANTAGE: SUPPORTED,
            DISTRIBUTIONS: SUPPORTED,
            PRIOR: NOT_SUPPORTED,
            MORE: NOT_SUPPORTED,
            LESS: NOT_SUPPORTED,
        }, metric
    for claim in CLAIMS:
        assert factorial.pattern(claim_verdicts(distributions=0.3)[claim.key]) == (
            factorial.DISTRIBUTIONS_ALONE
        )


def test_the_noise_the_effects_must_exceed_is_the_judges_and_the_paths():
    fact = factorial.factorial(CELLS, *tables(distributions=0.3))
    # the points cell's weight is -1/2 in the distributions effect: per-judge effects +-NOISE/2
    precision = fact.effects[DISTRIBUTIONS]["precision"]
    assert precision.spreads == pytest.approx([NOISE / 2] * SEEDS)
    assert precision.judges == len(JUDGES)
    # evenness: the standard error of the path-by-path effect, (1/2) * NOISE * sqrt(4/3) / 2
    evenness = fact.effects[DISTRIBUTIONS]["path_evenness"]
    assert evenness.spreads == pytest.approx([NOISE / 2 * (4 / 3) ** 0.5 / 2] * SEEDS)
    # an effect below the judges' spread does not count: per-judge effects of NOISE / 4 plus
    # -NOISE/2, +NOISE/2 and 0 hold on no seed, but would without judge 1, so it is not decided
    small = factorial.factorial(CELLS, *tables(distributions=NOISE / 4)).effects[DISTRIBUTIONS]
    assert small["precision"].holds == [False] * SEEDS
    assert small["precision"].verdict == NOT_DECIDED


def test_the_advantage_is_the_comparison_of_the_vae_with_the_capacity_matched_ae():
    table, items = tables(distributions=0.2, prior=0.1)
    fact = factorial.factorial(CELLS, table, items)
    for metric in ("coverage", "path_evenness", "frechet_distance"):
        plain = measure_verdict(table, metric, "vae", "ae_wide", items=items)
        assert fact.effects[ADVANTAGE][metric].gains == plain.gains
        assert fact.effects[ADVANTAGE][metric].verdict == plain.verdict


@pytest.mark.parametrize(
    ("effects", "expected"),
    [
        ({"distributions": 0.3}, factorial.DISTRIBUTIONS_ALONE),
        ({"prior": 0.3}, factorial.PRIOR_ALONE),
        ({"distributions": 0.2, "prior": 0.2}, factorial.BOTH),
        ({"together": 0.4}, factorial.TOGETHER),  # only the VAE cell is better
        ({"distributions": 0.3, "prior": 0.3, "together": -0.3}, factorial.EITHER),  # overlap
        ({"distributions": -0.3}, factorial.NO_ADVANTAGE),
        ({}, factorial.NO_ADVANTAGE),
    ],
    ids=["distributions", "prior", "both", "together", "either", "worse", "none"],
)
def test_each_pattern_of_effects_is_told_apart(effects, expected):
    for claim in CLAIMS:
        assert factorial.pattern(claim_verdicts(**effects)[claim.key]) == expected


def test_neither_when_the_vae_wins_but_no_effect_holds_on_every_seed():
    verdicts = {ADVANTAGE: SUPPORTED, DISTRIBUTIONS: MIXED, PRIOR: MIXED, MORE: NOT_SUPPORTED}
    assert factorial.pattern({**verdicts, LESS: NOT_DECIDED}) == factorial.NEITHER


@pytest.mark.parametrize(
    "undecided",
    [
        {ADVANTAGE: NOT_DECIDED},
        {DISTRIBUTIONS: NOT_DECIDED},  # else "prior term alone"
        {MORE: NOT_DECIDED},  # the mechanisms might be needed together
        {DISTRIBUTIONS: SUPPORTED, LESS: NOT_DECIDED},  # adding up or overlapping?
    ],
    ids=["advantage", "distributions", "interaction", "overlap"],
)
def test_an_undecided_effect_the_pattern_turns_on_decides_no_mechanism(undecided):
    verdicts = {
        ADVANTAGE: SUPPORTED,
        DISTRIBUTIONS: NOT_SUPPORTED,
        PRIOR: SUPPORTED,
        MORE: NOT_SUPPORTED,
        LESS: NOT_SUPPORTED,
    }
    assert factorial.pattern({**verdicts, **undecided}) == factorial.UNDECIDED


@pytest.mark.parametrize(
    ("more", "less", "expected"),
    [
        (SUPPORTED, NOT_SUPPORTED, factorial.TOGETHER_MORE),
        (NOT_SUPPORTED, SUPPORTED, factorial.TOGETHER_LESS),
        (NOT_DECIDED, MIXED, NOT_DECIDED),
        (MIXED, NOT_SUPPORTED, MIXED),
        (NOT_SUPPORTED, NOT_SUPPORTED, NOT_SUPPORTED),
    ],
)
def test_the_interaction_s_verdict_from_its_two_directions(more, less, expected):
    assert factorial.interaction_verdict(more, less) == expected


# The cells, from params


@pytest.fixture
def raw(repo_params):
    return copy.deepcopy(repo_params)


def test_the_repository_s_models_make_the_design(raw):
    assert factorial.design_cells(validate(raw, DECLARED)) == CELLS


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("report.models", ["ae", "vae", "ae_wide", "vae_nokl"]),  # no WAE compared
        ("wae.mmd_weight", 0),  # a WAE without its penalty is a second ae_wide
        ("vae_nokl.beta", 0.5),  # a second VAE with a prior term
        ("vae_nokl.lr", 0.002),  # trained otherwise than the others
        ("wae.hidden", [256]),  # another capacity
    ],
)
def test_no_complete_design_means_no_factorial(raw, key, value):
    section, field = key.split(".")
    raw[section][field] = value
    assert factorial.design_cells(validate(raw, DECLARED)) is None


def test_a_cell_is_found_by_its_params_not_its_name(raw):
    raw["report"]["models"] = ["vae_nokl", "wae", "ae_wide", "vae", "ae"]
    assert factorial.design_cells(validate(raw, DECLARED)) == CELLS
    raw["vae_nokl"]["beta"], raw["vae"]["beta"] = 1, 0  # the names swapped over
    cells = factorial.design_cells(validate(raw, DECLARED))
    assert (cells.distributions, cells.distributions_prior) == ("vae", "vae_nokl")


def test_the_write_up_s_vae_is_the_one_with_its_kl_term(raw):
    vaes, aes = comparison.vaes_and_aes(validate(raw, DECLARED))
    models = raw["report"]["models"]
    assert vaes == [m for m in models if raw[m]["kind"] == "vae" and raw[m]["beta"] > 0]
    assert aes == [m for m in models if raw[m]["kind"] == "ae"]
    assert "vae" in vaes and "vae_nokl" not in vaes and "wae" not in vaes + aes
    assert {"ae", "ae_wide"} <= set(aes)


# The report's pieces


def verdicts_for(pattern_effects: dict[str, str]) -> dict[str, ClaimVerdict]:
    return {e: ClaimVerdict(pattern_effects.get(e, NOT_SUPPORTED), 0, 2) for e in EFFECTS}


WHY = {
    factorial.NO_ADVANTAGE: (
        {ADVANTAGE: MIXED},
        "`vae` has no consistent advantage over `ae_wide`",
    ),
    factorial.TOGETHER: (
        {ADVANTAGE: SUPPORTED, MORE: SUPPORTED},
        "both mechanisms are needed together",
    ),
    factorial.EITHER: (
        {ADVANTAGE: SUPPORTED, DISTRIBUTIONS: SUPPORTED, PRIOR: SUPPORTED, LESS: SUPPORTED},
        "they overlap",
    ),
    factorial.BOTH: (
        {ADVANTAGE: SUPPORTED, DISTRIBUTIONS: SUPPORTED, PRIOR: SUPPORTED},
        "their gains add up",
    ),
    factorial.DISTRIBUTIONS_ALONE: (
        {ADVANTAGE: SUPPORTED, DISTRIBUTIONS: SUPPORTED},
        "the distributions carry it, not the prior term",
    ),
    factorial.PRIOR_ALONE: (
        {ADVANTAGE: SUPPORTED, PRIOR: SUPPORTED},
        "the prior term carries it, not the distributions",
    ),
    factorial.NEITHER: ({ADVANTAGE: SUPPORTED}, "neither mechanism carries it on every seed"),
    factorial.UNDECIDED: (
        {ADVANTAGE: SUPPORTED, DISTRIBUTIONS: NOT_DECIDED, PRIOR: SUPPORTED},
        "are not decided",
    ),
}


@pytest.mark.parametrize("kind", factorial.PATTERNS)
def test_the_why_sentence_of_each_pattern(kind):
    effects, words = WHY[kind]
    verdicts = verdicts_for(effects)
    assert factorial.pattern({e: v.verdict for e, v in verdicts.items()}) == kind
    sentence = mechanisms.claim_why(CLAIMS[0], verdicts, CELLS)
    assert sentence.startswith(f"*{CLAIMS[0].text}*: ") and words in sentence
    # the verdicts it rests on are said beside it, and no number is typed
    assert f"distributions: {verdicts[DISTRIBUTIONS]}; prior term: {verdicts[PRIOR]}" in sentence
    assert not re.search(r"\d", sentence)
    others = {mechanisms.claim_why(CLAIMS[0], verdicts_for(e), CELLS) for e, _ in WHY.values()}
    assert len(others) == len(WHY)  # every pattern reads differently


def summary_of(values: dict[tuple[str, str], tuple[float, float]]) -> pd.DataFrame:
    """A summary table (results.summarise's columns) from {(model, metric): (mean, std)}."""
    return pd.DataFrame(
        [
            {
                "model": model,
                "square": comparison.square_of(metric),
                "metric": metric,
                "mean": mean,
                "std_seeds": std,
                "std_judges": 0.0,
                "seeds": SEEDS,
                "judges": 1,
            }
            for (model, metric), (mean, std) in values.items()
        ]
    )


def diagnostics(sigma_off: float) -> pd.DataFrame:
    values = {}
    for model in CELLS.in_rows():
        inside = model in ("wae", "vae")
        values[model, "code_eigenvalue_largest"] = (1.6 if inside else 21.0, 0.1)
        values[model, "code_eigenvalue_smallest"] = (0.9 if inside else 16.0, 0.1)
        values[model, "codes_in_square"] = (1.0 if inside else 0.3, 0.01)
    values["vae_nokl", "posterior_sigma"] = (sigma_off, 0.0002)
    values["vae", "posterior_sigma"] = (0.065, 0.003)
    values["vae_nokl", "spread_to_sigma"] = (4.5 / sigma_off, 10.0)
    values["vae", "spread_to_sigma"] = (20.0, 1.0)
    return summary_of(values)


def test_the_diagnostics_sentences_say_what_the_numbers_show():
    collapsed = mechanisms.sigma_sentence(diagnostics(0.0015), CELLS)
    assert "encoder narrows its distributions" in collapsed
    assert "`vae_nokl`'s mean posterior sigma is 0.0015 against `vae`'s 0.065" in collapsed
    assert "span 3000 of its sigmas against 20" in collapsed
    assert "each image's distribution is 150 times narrower than `vae`'s" in collapsed
    kept = mechanisms.sigma_sentence(diagnostics(0.064), CELLS)
    assert "keeps its distributions about as wide (within the seeds' spread)" in kept
    assert "narrower" not in kept
    assert "widens" in mechanisms.sigma_sentence(diagnostics(0.5), CELLS)
    eigen = mechanisms.eigenvalue_sentence(diagnostics(0.0015), CELLS)
    assert "lie within [0.5, 2] for `wae`, `vae`, not for `ae_wide` (21 and 16)" in eigen


def test_the_tables_and_the_maps_of_the_cells(raw):
    p = validate(raw, DECLARED)
    fact = factorial.factorial(CELLS, *tables(distributions=0.3))
    effects = mechanisms.effects_table(fact, p).splitlines()
    measures = [m for c in CLAIMS for m in c.measures]
    assert len(effects) == 2 + len(measures)
    assert "| distributions " in effects[0] and "| interaction" in effects[0]
    assert "+0.3: supported" in effects[2] and "+0: not supported" in effects[2]
    table = mechanisms.diagnostics_table(diagnostics(0.0015), p).splitlines()
    assert len(table) == 2 + len(p.compared)
    wae = next(row for row in table if "`wae`" in row)
    assert "points, a prior term" in wae and "mmd_weight" in wae and "1.6 ± 0.1" in wae
    assert "—" in wae  # no posterior sigma
    assert mechanisms.cell_maps(CELLS) == [
        ("ae_wide", "ae_wide: points, no prior term"),
        ("wae", "wae: points, a prior term"),
        ("vae_nokl", "vae_nokl: distributions, no prior term"),
        ("vae", "vae: distributions, a prior term"),
    ]
    why = mechanisms.why(fact, diagnostics(0.0015))
    carried = [line for line in why if "the distributions carry it, not the prior term" in line]
    assert len(carried) == len(CLAIMS) and all(line.startswith("- *") for line in carried)
    note = " ".join(mechanisms.design_note(fact, p))
    assert f"The WAE's MMD weight is {p.model('wae').mmd_weight:g};" in note

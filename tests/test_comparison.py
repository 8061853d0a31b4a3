"""The report's verdicts (latentlab/report/comparison.py) and tables (latentlab/report/results.py),
on synthetic tables in the long format of results.COLUMNS: known answers, worked by hand."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latentlab.analysis.metrics import BY_NAME, HIGHER, LOWER, METRICS, written_by
from latentlab.core import paths
from latentlab.core.artifacts import save_arrays, write_json
from latentlab.core.errors import UserError
from latentlab.core.fashion_mnist import CLASSES
from latentlab.core.params import declared_models, validate
from latentlab.report import comparison, results
from latentlab.report.comparison import (
    MIXED,
    NOT_DECIDED,
    NOT_SUPPORTED,
    SUPPORTED,
    MeasureVerdict,
    claim_results,
    claim_verdict,
    measure_verdict,
)

REPO = Path(__file__).resolve().parents[1]
DECLARED = declared_models(REPO / "dvc.yaml")
JUDGES = [1, 2, 3]


def long_table(values: dict[tuple[str, str], list[list[float]]], judges=JUDGES) -> pd.DataFrame:
    """A results table from {(model, metric): seeds x judges values} (seeds 1, 2, ...); a metric
    no judge takes gets one value per seed (judge 0). A map's metric goes on the lab's square,
    with the opposite of its values on the own square, so that using the wrong square shows."""
    rows = []
    for (model, metric), per_seed in values.items():
        square = comparison.square_of(metric)
        for seed, seed_values in enumerate(per_seed, start=1):
            if BY_NAME[metric].per_judge:
                assert len(seed_values) == len(judges)
                cells = list(zip(judges, seed_values, strict=True))
            else:
                assert len(seed_values) == 1
                cells = [(0, seed_values[0])]
            for judge, value in cells:
                rows.append((model, seed, square, metric, judge, float(value)))
                if square == "lab":
                    rows.append((model, seed, "own", metric, judge, -float(value)))
    table = pd.DataFrame(rows, columns=results.COLUMNS)
    assert list(table.columns) == ["model", "seed", "square", "metric", "judge", "value"]
    return table


def items_table(values: dict[tuple[str, str], list[list[float]]]) -> pd.DataFrame:
    """Per-item values (results.ITEM_COLUMNS) from {(model, metric): seeds x items values}."""
    rows = [
        (model, seed, metric, item, float(value))
        for (model, metric), per_seed in values.items()
        for seed, seed_items in enumerate(per_seed, start=1)
        for item, value in enumerate(seed_items)
    ]
    return pd.DataFrame(rows, columns=results.ITEM_COLUMNS)


def paths_measured(vae: list[list[float]], ae: list[list[float]]) -> MeasureVerdict:
    """The evenness verdict from each path's value (seeds x paths), the means in the table."""
    per_path = {("vae", "path_evenness"): vae, ("ae", "path_evenness"): ae}
    means = {key: [[float(np.mean(s))] for s in v] for key, v in per_path.items()}
    return measure_verdict(
        long_table(means), "path_evenness", "vae", "ae", items=items_table(per_path)
    )


def verdict_of(metric: str, vae: list[list[float]], ae: list[list[float]]) -> MeasureVerdict:
    return measure_verdict(
        long_table({("vae", metric): vae, ("ae", metric): ae}), metric, "vae", "ae"
    )


# measure_verdict


def test_clearly_better_on_every_seed_with_judges_agreeing_is_supported():
    vae = [[0.80, 0.81, 0.79], [0.75, 0.76, 0.77], [0.90, 0.88, 0.89]]
    ae = [[0.50, 0.52, 0.49], [0.51, 0.50, 0.50], [0.40, 0.41, 0.42]]
    v = verdict_of("precision", vae, ae)
    assert v.verdict == SUPPORTED
    assert v.holds == [True, True, True] and v.supported_on == "3 of 3"
    assert v.judges == 3 and (v.metric, v.vae, v.ae) == ("precision", "vae", "ae")
    # gains by hand: seed 1's per-judge gains are 0.30, 0.29, 0.30
    assert v.gains[0] == pytest.approx((0.30 + 0.29 + 0.30) / 3)
    assert v.spreads[0] == pytest.approx(np.std([0.30, 0.29, 0.30], ddof=1))


def test_clearly_worse_is_not_supported():
    v = verdict_of("coverage", [[0.2, 0.2, 0.21]] * 3, [[0.6, 0.61, 0.6]] * 3)
    assert v.verdict == NOT_SUPPORTED
    assert v.holds == [False] * 3 and v.supported_on == "0 of 3"
    assert all(g < 0 for g in v.gains)


def test_better_on_two_seeds_of_three_is_mixed():
    vae = [[0.8, 0.8, 0.81], [0.8, 0.79, 0.8], [0.3, 0.31, 0.3]]
    ae = [[0.5, 0.5, 0.5]] * 3
    v = verdict_of("precision", vae, ae)
    assert v.verdict == MIXED
    assert v.holds == [True, True, False] and v.supported_on == "2 of 3"


def test_a_gain_smaller_than_the_judges_spread_does_not_hold():
    # four judges; per-judge gains 0.5, -0.3, 0.2, -0.1: a mean gain of 0.075 against a spread
    # of 0.35, and no judge left out makes any seed hold either
    judges = [1, 2, 3, 4]
    gains = [0.5, -0.3, 0.2, -0.1]
    ae = [[0.4] * 4] * 3
    vae = [[0.4 + g for g in gains]] * 3
    table = long_table({("vae", "precision"): vae, ("ae", "precision"): ae}, judges)
    v = measure_verdict(table, "precision", "vae", "ae")
    assert v.gains == pytest.approx([0.075] * 3)
    assert v.spreads == pytest.approx([np.std(gains, ddof=1)] * 3)
    assert v.spreads[0] == pytest.approx(0.35)
    assert v.holds == [False, False, False]
    assert v.verdict == NOT_SUPPORTED and v.judges == 4


def test_a_verdict_that_one_judge_flips_is_not_decided():
    # with all three judges: gains 0.5, 0.5, -0.1 have mean 0.3 < spread 0.35 -> not supported;
    # without judge 3 the gains agree exactly (spread 0) -> supported: the verdict is the judge's
    vae = [[0.9, 0.9, 0.3]] * 3
    ae = [[0.4, 0.4, 0.4]] * 3
    v = verdict_of("precision", vae, ae)
    assert v.holds == [False] * 3
    assert v.verdict == NOT_DECIDED
    # the same numbers with one judge's disagreement removed are decided
    agreed = verdict_of("precision", [[0.9, 0.9, 0.88]] * 3, ae)
    assert agreed.verdict == SUPPORTED


def test_one_judge_has_no_noise_floor_and_decides_nothing():
    # one judge: a gain of 0.3 over a spread it cannot have is no verdict, not "supported"
    table = long_table(
        {("vae", "coverage"): [[0.8]] * 3, ("ae", "coverage"): [[0.5]] * 3}, judges=[1]
    )
    v = measure_verdict(table, "coverage", "vae", "ae")
    assert all(math.isnan(s) for s in v.spreads) and v.holds == [False] * 3
    assert v.verdict == NOT_DECIDED
    assert v.reasons == ("too few judges: 1, and a judge-based verdict needs 3 or more",)
    assert v.short_reason == "too few judges"


def test_two_judges_cannot_be_checked_by_leaving_one_out():
    table = long_table(
        {("vae", "coverage"): [[0.8, 0.81]] * 3, ("ae", "coverage"): [[0.5, 0.5]] * 3},
        judges=[1, 2],
    )
    v = measure_verdict(table, "coverage", "vae", "ae")
    assert v.holds == [True] * 3 and v.verdict == NOT_DECIDED
    assert v.short_reason == "too few judges"


def test_one_seed_decides_nothing_even_without_judges():
    v = verdict_of("codes_in_square", [[0.9]], [[0.3]])
    assert v.holds == [True] and v.verdict == NOT_DECIDED
    assert v.reasons == ("too few seeds: 1, and a verdict needs 2 or more",)
    clear = [[0.80, 0.81, 0.79]]
    assert verdict_of("precision", clear, [[0.5, 0.5, 0.5]]).short_reason == "too few seeds"


def test_a_weak_instrument_leaves_a_clear_win_not_decided():
    table = long_table(
        {
            ("vae", "precision"): [[0.80, 0.81, 0.79]] * 3,
            ("ae", "precision"): [[0.5, 0.5, 0.5]] * 3,
        }
    )
    v = measure_verdict(table, "precision", "vae", "ae", too_weak=("the judges are bad",))
    assert v.holds == [True] * 3 and v.verdict == NOT_DECIDED
    assert v.reasons == ("instruments too weak: the judges are bad",)
    assert measure_verdict(table, "precision", "vae", "ae").verdict == SUPPORTED


def test_a_judge_that_flips_the_verdict_is_the_reason_given():
    v = verdict_of("precision", [[0.9, 0.9, 0.3]] * 3, [[0.4, 0.4, 0.4]] * 3)
    assert v.verdict == NOT_DECIDED and v.reasons == (comparison.LEFT_OUT,)
    assert v.short_reason == "one judge decides it"


@pytest.mark.parametrize("metric", ["frechet_distance", "test_bce"])
def test_lower_is_better_makes_a_lower_vae_value_a_gain(metric):
    per_judge = BY_NAME[metric].per_judge
    width = 3 if per_judge else 1
    low, high = [[0.2] * width] * 3, [[0.6] * width] * 3
    if per_judge:
        low = [[0.2, 0.21, 0.19]] * 3
    better = verdict_of(metric, low, high)
    assert BY_NAME[metric].better == LOWER
    assert better.verdict == SUPPORTED
    assert better.gains == pytest.approx([0.4] * 3)
    worse = verdict_of(metric, high, low)
    assert worse.verdict == NOT_SUPPORTED
    assert worse.gains == pytest.approx([-0.4] * 3)


def test_a_metric_no_judge_takes_needs_only_a_positive_gain():
    v = verdict_of("codes_in_square", [[0.51], [0.50], [0.49]], [[0.50], [0.50], [0.50]])
    assert BY_NAME["codes_in_square"].better == HIGHER
    assert v.judges == 0 and v.spreads == [0.0, 0.0, 0.0]
    assert v.holds == [True, False, False] and v.verdict == MIXED and v.reasons == ()


def test_map_metrics_are_decided_on_the_lab_square():
    assert comparison.square_of("precision") == "lab"
    assert comparison.square_of("path_evenness") == ""
    # long_table puts the opposite values on the own square: a supported verdict means "lab"
    v = verdict_of("codes_in_square", [[0.9]] * 3, [[0.1]] * 3)
    assert v.verdict == SUPPORTED


def test_only_seeds_both_models_have_are_compared():
    table = long_table(
        {("vae", "test_bce"): [[100.0], [100.0], [900.0]], ("ae", "test_bce"): [[500.0], [500.0]]}
    )
    v = measure_verdict(table, "test_bce", "vae", "ae")
    assert len(v.gains) == 2 and v.verdict == SUPPORTED


def test_a_mean_over_paths_must_beat_the_standard_error_of_the_paired_difference():
    vae = [0.1, 0.2, 0.3, 0.4]
    steady = [x + d for x, d in zip(vae, [0.01, 0.03, 0.01, 0.03], strict=True)]
    noisy = [x + d for x, d in zip(vae, [0.10, -0.06, 0.10, -0.06], strict=True)]
    # Lower evenness is better: the VAE gains 0.02 on average against both autoencoders.
    v = paths_measured([vae] * 3, [steady] * 3)
    assert v.gains == pytest.approx([0.02] * 3)
    assert v.spreads == pytest.approx([math.sqrt(4 * 0.01**2 / 3) / 2] * 3)  # 0.0058
    assert v.verdict == SUPPORTED
    v = paths_measured([vae] * 3, [noisy] * 3)
    assert v.gains == pytest.approx([0.02] * 3)
    assert v.spreads == pytest.approx([math.sqrt(4 * 0.08**2 / 3) / 2] * 3)  # 0.046
    assert v.verdict == NOT_SUPPORTED
    # Per seed: seed 2's paths are noisy, so the claim holds on seeds 1 and 3 only.
    assert paths_measured([vae] * 3, [steady, noisy, steady]).holds == [True, False, True]


def test_a_mean_over_paths_needs_every_path_of_both_models():
    with pytest.raises(ValueError, match="needs their values"):
        measure_verdict(
            long_table({("vae", "path_evenness"): [[0.1]], ("ae", "path_evenness"): [[0.2]]}),
            "path_evenness",
            "vae",
            "ae",
        )
    with pytest.raises(ValueError, match="do not hold the same two or more items"):
        paths_measured([[0.1, 0.2, 0.3]], [[0.2, 0.3]])


def test_models_without_a_common_seed_are_refused():
    table = long_table({("vae", "test_bce"): [[1.0]], ("ae", "test_bce"): [[2.0], [2.0]]})
    table.loc[table.model == "ae", "seed"] += 1  # ae has seeds 2 and 3, the VAE seed 1
    with pytest.raises(ValueError, match="no seed in common"):
        measure_verdict(table, "test_bce", "vae", "ae")


def test_a_missing_metric_is_a_key_error():
    table = long_table({("vae", "precision"): [[0.5] * 3]})
    with pytest.raises(KeyError, match="no precision for ae"):
        measure_verdict(table, "precision", "vae", "ae")


# claim_verdict


def mv(verdict: str) -> MeasureVerdict:
    return MeasureVerdict("precision", "vae", "ae", [0.1], [0.0], [True], verdict, 3)


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([SUPPORTED, SUPPORTED], SUPPORTED),
        ([NOT_SUPPORTED, NOT_SUPPORTED, NOT_SUPPORTED], NOT_SUPPORTED),
        ([SUPPORTED, NOT_SUPPORTED], MIXED),
        ([SUPPORTED, MIXED], MIXED),
        ([MIXED, MIXED], MIXED),
        ([MIXED], MIXED),
        ([SUPPORTED, NOT_DECIDED], SUPPORTED),  # an undecided measure does not vote
        ([NOT_DECIDED, NOT_SUPPORTED, NOT_DECIDED], NOT_SUPPORTED),
        ([NOT_DECIDED, NOT_DECIDED], NOT_DECIDED),
        ([], NOT_DECIDED),
    ],
)
def test_claim_verdict_combines_the_decided_measures(verdicts, expected):
    combined = claim_verdict([mv(v) for v in verdicts])
    assert combined.verdict == expected
    assert combined.undecided == verdicts.count(NOT_DECIDED)
    assert combined.full == (combined.undecided == 0 and expected != MIXED)
    if combined.undecided and expected != NOT_DECIDED:
        note = f"{combined.undecided} of {len(verdicts)} measures not decided"
        assert str(combined) == f"{expected} ({note})"
    else:
        assert str(combined) == expected


# claim_results over a whole table


def every_claim_measure(vae_better: bool, seeds: int = 3) -> pd.DataFrame:
    """Every measure of every claim for vae, ae and ae_wide; the VAE better or worse by far."""
    values = {}
    for claim in comparison.CLAIMS:
        for metric in claim.measures:
            width = len(JUDGES) if BY_NAME[metric].per_judge else 1
            up = BY_NAME[metric].better == HIGHER
            good, bad = (0.9, 0.1) if up else (0.1, 0.9)
            vae_value = good if vae_better else bad
            ae_value = bad if vae_better else good
            values["vae", metric] = [[vae_value] * width] * seeds
            values["ae", metric] = [[ae_value] * width] * seeds
            values["ae_wide", metric] = [[ae_value] * width] * seeds
    return long_table(values)


def every_path(vae_better: bool, seeds: int = 3) -> pd.DataFrame:
    """Each path's evenness for every_claim_measure: spread around its means of 0.1 and 0.9."""
    good, bad = [0.05, 0.15, 0.1], [0.9, 0.85, 0.95]  # differences 0.85, 0.7, 0.85
    vae, ae = (good, bad) if vae_better else (bad, good)
    return items_table(
        {
            ("vae", "path_evenness"): [vae] * seeds,
            ("ae", "path_evenness"): [ae] * seeds,
            ("ae_wide", "path_evenness"): [ae] * seeds,
        }
    )


@pytest.mark.parametrize(("vae_better", "expected"), [(True, SUPPORTED), (False, NOT_SUPPORTED)])
def test_claim_results_test_every_claim_against_every_autoencoder(vae_better, expected):
    results_ = claim_results(
        every_claim_measure(vae_better), "vae", ["ae", "ae_wide"], every_path(vae_better)
    )
    assert [r.claim.key for r in results_] == [c.key for c in comparison.CLAIMS]
    for r in results_:
        assert set(r.measures) == {"ae", "ae_wide"}
        assert {ae: v.verdict for ae, v in r.verdicts.items()} == {
            "ae": expected,
            "ae_wide": expected,
        }
        for ae, measures in r.measures.items():
            assert [m.metric for m in measures] == list(r.claim.measures)
            assert all(m.ae == ae and m.verdict == expected for m in measures)


def test_the_verdicts_file_holds_each_claims_verdict_per_vae_and_autoencoder():
    """The VAE beats ae and loses to ae_wide over the lab's square (long_table puts the opposite
    on the own square, where the VAE then loses to ae and ties with ae_wide)."""
    better, worse = every_claim_measure(True), every_claim_measure(False)
    table = pd.concat([better[better.model != "ae_wide"], worse[worse.model == "ae_wide"]])
    paths_better, paths_worse = every_path(True), every_path(False)
    items = pd.concat(
        [paths_better[paths_better.model != "ae_wide"], paths_worse[paths_worse.model == "ae_wide"]]
    )
    verdicts = {"vae": claim_results(table, "vae", ["ae", "ae_wide"], items)}
    record = comparison.verdict_record(verdicts)
    assert record == {
        "vae": {
            "ae": {
                "kinds": SUPPORTED,
                "kinds_own": NOT_SUPPORTED,
                "smooth": SUPPORTED,
                "realistic": SUPPORTED,
                "realistic_own": NOT_SUPPORTED,
            },
            "ae_wide": {
                "kinds": NOT_SUPPORTED,
                "kinds_own": NOT_SUPPORTED,
                "smooth": NOT_SUPPORTED,
                "realistic": NOT_SUPPORTED,
                "realistic_own": NOT_SUPPORTED,
            },
        }
    }
    assert comparison.verdict_record({}) == {}
    mechanism = {"kinds": "prior term alone", "smooth": "not decided", "realistic": "neither"}
    assert comparison.verdict_record(verdicts, mechanism) == {**record, "mechanism": mechanism}
    with pytest.raises(ValueError, match="mechanism"):
        comparison.verdict_record({"mechanism": verdicts["vae"]}, mechanism)


def test_every_claim_measure_has_a_direction_and_a_verdict_square():
    for claim in comparison.CLAIMS:
        assert claim.measures
        for metric in claim.measures:
            assert BY_NAME[metric].better in (HIGHER, LOWER), metric
            assert comparison.square_of(metric) in ("lab", "")
    assert BY_NAME[comparison.MECHANISM].better == HIGHER


# results.summarise, seed_values, headline


def test_summarise_by_hand():
    table = pd.DataFrame(
        [
            # a per-judge metric: seed 1's judges say 1 and 3, seed 2's say 5 and 5
            ("m", 1, "lab", "precision", 1, 1.0),
            ("m", 1, "lab", "precision", 2, 3.0),
            ("m", 2, "lab", "precision", 1, 5.0),
            ("m", 2, "lab", "precision", 2, 5.0),
            # no judge: one value per seed
            ("m", 1, "", "test_bce", 0, 10.0),
            ("m", 2, "", "test_bce", 0, 14.0),
            # a single seed
            ("n", 1, "", "test_bce", 0, 7.0),
        ],
        columns=results.COLUMNS,
    )
    summary = results.summarise(table).set_index(["model", "square", "metric"])
    precision = summary.loc[("m", "lab", "precision")]
    assert precision["mean"] == pytest.approx(3.5)  # mean of the seeds' judge means 2 and 5
    assert precision["std_seeds"] == pytest.approx(math.sqrt(4.5))  # std of 2 and 5 (ddof 1)
    assert precision["std_judges"] == pytest.approx(math.sqrt(2) / 2)  # mean of sqrt 2 and 0
    assert precision["seeds"] == 2 and precision["judges"] == 2
    bce = summary.loc[("m", "", "test_bce")]
    assert (bce["mean"], bce["std_judges"], bce["seeds"], bce["judges"]) == (12.0, 0.0, 2, 1)
    assert bce["std_seeds"] == pytest.approx(math.sqrt(8))
    single = summary.loc[("n", "", "test_bce")]
    assert (single["mean"], single["std_seeds"], single["std_judges"]) == (7.0, 0.0, 0.0)


def test_summarise_keeps_the_squares_apart():
    table = long_table({("vae", "precision"): [[0.2, 0.4, 0.6], [0.4, 0.4, 0.4]]})
    summary = results.summarise(table).set_index(["model", "square", "metric"])
    assert summary.loc[("vae", "lab", "precision"), "mean"] == pytest.approx(0.4)
    assert summary.loc[("vae", "own", "precision"), "mean"] == pytest.approx(-0.4)
    assert summary.loc[("vae", "lab", "precision"), "std_seeds"] == pytest.approx(0.0, abs=1e-12)
    assert summary.loc[("vae", "lab", "precision"), "std_judges"] == pytest.approx(0.1)


def test_seed_values_is_a_seeds_by_judges_frame():
    table = long_table({("vae", "precision"): [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]})
    frame = results.seed_values(table, "vae", "precision", "lab")
    assert list(frame.index) == [1, 2] and list(frame.columns) == JUDGES
    np.testing.assert_allclose(frame.to_numpy(), [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    with pytest.raises(KeyError):
        results.seed_values(table, "vae", "precision", "")


@pytest.fixture
def two_model_params(repo_params):
    raw = copy.deepcopy(repo_params)
    raw["seeds"] = [1, 2]
    raw["judge"]["seeds"] = [4, 7]
    raw["report"]["models"] = ["vae", "ae"]
    raw["interpolate"].update(pairs=8, shown=2)
    return validate(raw, DECLARED)


def test_headline_holds_the_headline_metrics_of_the_lab_square(two_model_params):
    values = {}
    for model, kind in (("vae", "vae"), ("ae", "ae")):
        for stage in ("evaluate", "render", "interpolate"):
            for m in written_by(stage, kind):
                width = 2 if m.per_judge else 1
                values[model, m.name] = [[1.0] * width, [3.0] * width]
    table = long_table(values, judges=[4, 7])
    judge_rows = pd.DataFrame(
        [("judge", 4, "", "test_accuracy", 0, 0.9), ("judge", 7, "", "test_accuracy", 0, 0.8)],
        columns=results.COLUMNS,
    )
    summary = results.summarise(pd.concat([table, judge_rows], ignore_index=True))
    out = results.headline(summary, two_model_params)
    assert list(out) == ["judge_accuracy", "vae", "ae"]
    assert out["judge_accuracy"] == pytest.approx(0.85)
    expected = {
        m.name for m in METRICS if m.headline and m.stage in ("evaluate", "render", "interpolate")
    }
    assert set(out["vae"]) == expected
    assert set(out["ae"]) == {
        n for n in expected if BY_NAME[n].kinds is None or "ae" in BY_NAME[n].kinds
    }
    assert all(v == 2.0 for v in out["vae"].values())  # the lab square's, not the own's -2


def write_run_files(p, corrupt: str = "") -> None:
    """Every file results.gather reads, for the compared models and seeds, in the cwd."""
    judges = p.judge.seeds

    def values(stage: str, kind: str) -> dict:
        out = {}
        for m in written_by(stage, kind):
            out[m.name] = [0.5] * len(judges) if m.per_judge else 0.25
        return out

    write_json(paths.JUDGE / "metrics.json", {f"seed{j}": {"test_accuracy": 0.9} for j in judges})
    for m in p.compared:
        write_json(
            paths.train_dir(m.name) / "metrics.json",
            {f"seed{s}": values("train", m.kind) for s in p.seeds},
        )
        for seed in p.seeds:
            evaluated = values("evaluate", m.kind)
            if corrupt == "missing" and m.kind == "vae":
                del evaluated["test_bce"]
            write_json(paths.eval_metrics(m.name, seed), evaluated)
            write_json(paths.path_metrics(m.name, seed), values("interpolate", m.kind))
            rendered = values("render", m.kind)
            if corrupt == "one-judge":
                rendered["precision"] = [0.5]
            owned = {c: float(i + seed) for i, c in enumerate(CLASSES)}
            lab = {**rendered, "tiles_per_class": owned}
            write_json(paths.map_metrics(m.name, seed), {"lab": lab, "own": rendered})
            evenness = np.linspace(0.1, 0.2, p.interpolate.pairs) + seed
            pairs = np.arange(2 * p.interpolate.pairs).reshape(-1, 2)
            if corrupt == "other-pairs" and m.name == "ae":
                pairs = pairs[::-1]
            if corrupt == "too-few-paths":
                evenness = evenness[1:]
            strips = {"pairs": pairs, "path_evenness": evenness}
            if corrupt == "no-paths":
                del strips["path_evenness"]
            save_arrays(paths.path_strips(m.name, seed), **strips)


def test_gather_reads_every_compared_run(tmp_path, monkeypatch, two_model_params):
    monkeypatch.chdir(tmp_path)
    p = two_model_params
    write_run_files(p)
    table = results.gather(p)
    assert list(table.columns) == results.COLUMNS
    judge_rows = table[table.model == "judge"]
    assert sorted(judge_rows.seed) == [4, 7] and set(judge_rows.metric) == {"test_accuracy"}
    expected_rows = 2  # the judges' accuracies
    for m in p.compared:
        for stage in ("train", "evaluate", "interpolate", "render"):
            squares = 2 if stage == "render" else 1
            for metric in written_by(stage, m.kind):
                expected_rows += len(p.seeds) * squares * (2 if metric.per_judge else 1)
    assert len(table) == expected_rows
    precision = table[(table.model == "vae") & (table.metric == "precision")]
    assert sorted(set(precision.judge)) == [4, 7] and set(precision.square) == {"lab", "own"}
    assert set(table[table.metric == "test_bce"].judge) == {0}
    assert "log_likelihood" not in set(table[table.model == "ae"].metric)


def test_gather_items_reads_every_path_of_every_compared_run(
    tmp_path, monkeypatch, two_model_params
):
    monkeypatch.chdir(tmp_path)
    p = two_model_params
    write_run_files(p)
    items = results.gather_items(p)
    assert list(items.columns) == results.ITEM_COLUMNS
    assert len(items) == 2 * 2 * 8  # models x seeds x paths
    vae_seed2 = items[(items.model == "vae") & (items.seed == 2)].sort_values("item")
    np.testing.assert_allclose(vae_seed2.value, np.linspace(0.1, 0.2, 8) + 2)
    assert set(items.metric) == {m.name for m in METRICS if m.per_item}


@pytest.mark.parametrize(
    ("corrupt", "words"),
    [
        ("no-paths", r"has no array 'path_evenness'"),
        (
            "too-few-paths",
            r"does not hold interpolate.pairs \(8\) paths; rerun `dvc repro interpolate@vae`",
        ),
        ("other-pairs", r"ae/strips/seed1.npz pairs other test images than runs/vae/strips"),
    ],
)
def test_gather_items_refuses_paths_that_cannot_be_paired(
    tmp_path, monkeypatch, two_model_params, corrupt, words
):
    monkeypatch.chdir(tmp_path)
    write_run_files(two_model_params, corrupt)
    with pytest.raises(UserError, match=words):
        results.gather_items(two_model_params)


def test_tiles_per_class_is_the_mean_over_seeds_in_class_order(
    tmp_path, monkeypatch, two_model_params
):
    monkeypatch.chdir(tmp_path)
    p = two_model_params
    write_run_files(p)
    # seeds 1 and 2 give class i i + 1 and i + 2 tiles: the mean is i + 1.5
    assert results.tiles_per_class(p) == {m: [i + 1.5 for i in range(10)] for m in ("vae", "ae")}
    file = paths.map_metrics("ae", 2)
    write_json(file, {"lab": {}, "own": {}})
    with pytest.raises(UserError, match=r"has no tiles per class.*render@ae"):
        results.tiles_per_class(p)


@pytest.mark.parametrize(
    ("corrupt", "words"),
    [("missing", ["has no 'test_bce'", "dvc repro"]), ("one-judge", ["one value per judge (2)"])],
)
def test_gather_refuses_a_run_file_that_does_not_match_the_params(
    tmp_path, monkeypatch, two_model_params, corrupt, words
):
    monkeypatch.chdir(tmp_path)
    write_run_files(two_model_params, corrupt)
    with pytest.raises(UserError) as info:
        results.gather(two_model_params)
    for word in words:
        assert word in str(info.value)

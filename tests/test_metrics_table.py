"""The table of metrics (latentlab/analysis/metrics.py): unique names, valid directions, labels
that format with the real params and name their values, and few enough headline metrics."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from latentlab.analysis.metrics import BY_NAME, HIGHER, LOWER, METRICS, NEITHER, written_by
from latentlab.core import params

REPO = Path(__file__).resolve().parents[1]
STAGES = ("train", "evaluate", "render", "paths", "judge")
DECLARED = params.declared_models(REPO / "dvc.yaml")
# `make compare` prints a row per model and headline metric: a dozen a model keeps three models
# on a screen or two.
MAX_HEADLINE_PER_MODEL = 12


@pytest.fixture(scope="module")
def real_params() -> params.Params:
    return params.load(REPO / "params.yaml", REPO / "dvc.yaml")


def test_names_are_unique_and_indexed():
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names))
    assert set(BY_NAME) == set(names)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in names), names


def test_every_field_takes_an_allowed_value():
    for m in METRICS:
        assert m.better in (HIGHER, LOWER, NEITHER), m.name
        assert m.stage in STAGES, m.name
        assert m.resolution >= 0, m.name
        assert m.label and m.label == m.label.strip(), m.name
        low, high = m.bounds
        assert low < high and m.resolution <= high - low, m.name


def test_judged_metrics_are_measures_of_decoded_images():
    for m in METRICS:
        if m.judged:
            assert m.stage in ("render", "paths"), m.name
        if m.per_item:  # the report reads each item's value from the paths stage's strips
            assert m.stage == "paths" and not m.judged, m.name
    assert {"precision", "coverage", "frechet_distance"} <= {m.name for m in METRICS if m.judged}


def test_directions_of_the_measures_a_verdict_rests_on():
    assert BY_NAME["frechet_distance"].better == LOWER
    assert BY_NAME["path_evenness"].better == LOWER
    assert BY_NAME["test_bce"].better == LOWER
    for name in ("precision", "coverage", "density", "classes_present", "knn_accuracy"):
        assert BY_NAME[name].better == HIGHER, name
    assert BY_NAME["classes_present"].resolution == 1.0  # a count moves by whole classes


def test_labels_format_with_the_real_params(real_params):
    for m in METRICS:
        label = m.label_for(real_params)
        assert "{" not in label and "}" not in label, (m.name, label)
        assert "\n" not in label


# (metric, a function of the params giving the text its label must contain)
NAMED = [
    ("knn_accuracy", lambda p: f"{p.evaluate.knn_k}-NN"),
    ("log_likelihood", lambda p: f"{p.evaluate.iw_samples} samples"),
    ("coverage", lambda p: f"{p.realism.k}-NN"),
    ("precision", lambda p: f"{p.realism.k}-NN"),
    ("density", lambda p: f"{p.realism.k}-NN"),
    ("classes_present", lambda p: f"{p.latent_map.min_tiles}+"),
    ("classes_present", lambda p: f"p >= {p.latent_map.min_confidence:g}"),
    ("path_evenness", lambda p: f"{p.paths.steps} steps"),
]


@pytest.mark.parametrize(
    ("name", "text"), NAMED, ids=[f"{n}-{i}" for i, (n, _) in enumerate(NAMED)]
)
def test_labels_name_the_param_values(real_params, repo_params, name, text):
    assert text(real_params) in BY_NAME[name].label_for(real_params)
    # other values: the label follows them
    raw = copy.deepcopy(repo_params)
    raw["evaluate"].update(knn_k=17, iw_samples=33)
    raw["realism"]["k"] = 9
    raw["latent_map"].update(min_tiles=7, min_confidence=0.65)
    raw["paths"]["steps"] = 24
    other = params.validate(raw, DECLARED)
    label = BY_NAME[name].label_for(other)
    assert text(other) in label, label
    assert text(real_params) not in label or text(real_params) == text(other)


def test_shipped_labels_read_as_expected(real_params):
    assert BY_NAME["knn_accuracy"].label_for(real_params) == "5-NN class accuracy of test codes"
    assert "p >= 0.8" in BY_NAME["classes_present"].label_for(real_params)


def headline_metrics(kind: str) -> list[str]:
    """The headline metrics of one model of `kind`, as reports/metrics.json holds them."""
    return [
        m.name
        for stage in STAGES
        if stage != "judge"
        for m in written_by(stage, kind)
        if m.headline
    ]


def test_headline_metrics_are_few():
    per_vae = headline_metrics("vae")
    assert per_vae and len(per_vae) == len(set(per_vae))
    assert set(headline_metrics("ae")) <= set(per_vae)
    judge_headline = [m for m in METRICS if m.headline and m.stage == "judge"]
    assert [m.name for m in judge_headline] == ["test_accuracy"]
    assert len(per_vae) <= MAX_HEADLINE_PER_MODEL


def test_headline_metrics_have_a_direction():
    for m in METRICS:
        if m.headline:
            assert m.better in (HIGHER, LOWER), m.name


def test_written_by_leaves_the_vae_only_metrics_out_of_an_ae():
    ae = {m.name for m in written_by("evaluate", "ae")}
    vae = {m.name for m in written_by("evaluate", "vae")}
    assert ae < vae
    assert vae - ae == {m.name for m in METRICS if m.stage == "evaluate" and m.vae_only}
    assert {"test_neg_elbo", "log_likelihood"} <= vae - ae
    assert "kl" not in {m.name for m in written_by("train", "ae")}
    assert "kl" in {m.name for m in written_by("train", "vae")}
    assert written_by("nothing") == []
    every = [m for stage in STAGES for m in written_by(stage, "vae")]
    assert sorted(m.name for m in every) == sorted(m.name for m in METRICS)
    # A stage whose metrics do not depend on the kind of model needs no kind; the others do.
    assert written_by("render") == written_by("render", "ae") == written_by("render", "vae")
    with pytest.raises(ValueError, match="depend on the model's kind"):
        written_by("evaluate")

"""The report's wording of the metrics (latentlab/report/labels.py): a label for every metric and
none for a metric that does not exist, a meaning for exactly the measures that test a claim and the
mechanisms' diagnostics, and
labels that format with the real params and name their values."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from latentlab.analysis.metrics import METRICS
from latentlab.core import params
from latentlab.report.comparison import CLAIMS
from latentlab.report.labels import LABELS, MEANINGS, label, meaning
from latentlab.report.mechanisms import DIAGNOSTICS

REPO = Path(__file__).resolve().parents[1]
DECLARED = params.declared_models(REPO / "dvc.yaml")
CLAIM_MEASURES = {m for claim in CLAIMS for m in claim.measures}


@pytest.fixture(scope="module")
def real_params() -> params.Params:
    return params.load(REPO / "params.yaml", REPO / "dvc.yaml")


def test_every_metric_has_a_label_and_every_label_a_metric():
    assert set(LABELS) == {m.name for m in METRICS}


def test_the_claims_measures_and_the_diagnostics_and_only_they_have_a_meaning():
    assert set(MEANINGS) == CLAIM_MEASURES | set(DIAGNOSTICS)


def test_wording_formats_with_the_real_params(real_params):
    texts = [label(m.name, real_params) for m in METRICS]
    texts += [meaning(name, real_params) for name in sorted(MEANINGS)]
    for text in texts:
        assert text and text == text.strip(), text
        assert "{" not in text and "}" not in text and "\n" not in text, text


# (metric, a function of the params giving the text its label must contain)
NAMED = [
    ("knn_accuracy", lambda p: f"{p.evaluate.knn_k}-NN"),
    ("log_likelihood", lambda p: f"{p.evaluate.iw_samples} samples"),
    ("coverage", lambda p: f"{p.realism.k}-NN"),
    ("precision", lambda p: f"{p.realism.k}-NN"),
    ("density", lambda p: f"{p.realism.k}-NN"),
    ("classes_present", lambda p: f"{p.latent_map.min_tiles}+"),
    ("classes_present", lambda p: f"p >= {p.latent_map.min_confidence:g}"),
    ("path_evenness", lambda p: f"{p.interpolate.steps} steps"),
]


@pytest.mark.parametrize(
    ("name", "text"), NAMED, ids=[f"{n}-{i}" for i, (n, _) in enumerate(NAMED)]
)
def test_labels_name_the_param_values(real_params, repo_params, name, text):
    assert text(real_params) in label(name, real_params)
    # other values: the label follows them
    raw = copy.deepcopy(repo_params)
    raw["evaluate"].update(knn_k=17, iw_samples=33)
    raw["realism"]["k"] = 9
    raw["latent_map"].update(min_tiles=7, min_confidence=0.65)
    raw["interpolate"]["steps"] = 24
    other = params.validate(raw, DECLARED)
    got = label(name, other)
    assert text(other) in got, got
    assert text(real_params) not in got or text(real_params) == text(other)


def test_shipped_labels_read_as_expected(real_params):
    assert label("knn_accuracy", real_params) == "5-NN class accuracy of test codes"
    assert "p >= 0.8" in label("classes_present", real_params)
    steps = real_params.interpolate.steps
    assert f"1/{steps} is perfectly even" in meaning("path_evenness", real_params)

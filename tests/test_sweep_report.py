"""The sweep report from a table of runs and their maps: no DVC, no git, no training."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from latentlab.sweep import figures, page
from latentlab.sweep.figures import MEASURES

MODELS = ["ae", "vae"]


def png(seed: int, side: int = 60) -> bytes:
    """A grey map-like image whose every pixel is random."""
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(out, format="png")
    return out.getvalue()


def summary(shift: float) -> pd.DataFrame:
    """summary.csv's columns: each model's every claim measure, mean = shift + its index."""
    rows = []
    for model in MODELS:
        for i, metric in enumerate(MEASURES):
            square = "" if metric.startswith("path_") else "lab"
            rows.append((model, square, metric, shift + i, 0.1 * (i + 1), 0.0, 3, 1))
    frame = pd.DataFrame(
        rows,
        columns=["model", "square", "metric", "mean", "std_seeds", "std_judges", "seeds", "judges"],
    )
    # As pandas reads the file: an empty square is NaN.
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)))


def run(name: str, key: str, value: object, seed: int) -> page.Run:
    params = {
        "seeds": [1, 2, 3],
        key: value,
        "report.models": MODELS,
        "ae.kind": "ae",
        "vae.kind": "vae",
    }
    metrics = {"vae": {"test_bce": 250.0 + seed, "coverage": 0.1 * seed}, "ae": {"test_bce": 300.0}}
    return page.Run(name, params, metrics, summary(float(seed)), {"vae": png(seed)})


def table_after(text: str, heading: str) -> list[list[str]]:
    """The cells of the markdown table under a heading, header first, its rule left out."""
    lines = text.split(f"\n{heading}\n", 1)[1].lstrip("\n").splitlines()
    table = [line for line in lines[: next(i for i, x in enumerate(lines) if not x)] if line]
    return [[c.strip() for c in line.strip("|").split("|")] for line in table if "---" not in line]


@pytest.fixture
def runs() -> list[page.Run]:
    # Out of order on purpose: the page sorts them along the swept param.
    return [
        run("lr-b", "vae.lr", 0.003, 3),
        run("lr-a", "vae.lr", 0.0003, 1),
        run("lr-c", "vae.lr", 0.001, 2),
    ]


def test_the_page_has_one_row_per_experiment_and_labels_the_param(runs, tmp_path) -> None:
    (tmp_path / "old_figure.png").write_bytes(b"stale")
    written = page.write(tmp_path, runs, ["vae.lr"], "0123456789abcdef", missing=["vae.lr=0.01"])
    assert sorted(written) == ["maps_vae.png", "measures.png", "report.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(written)
    text = (tmp_path / "report.md").read_text()
    assert text.startswith("# Sweep over vae.lr\n")
    assert "commit 0123456" in text and "No finished experiment yet for: vae.lr=0.01." in text
    header, *rows = table_after(text, "### vae")
    assert header[:4] == ["experiment", "vae.lr", "test_bce", "coverage"]
    assert [row[:3] for row in rows] == [  # along vae.lr
        ["lr-a", "0.0003", "251"],
        ["lr-c", "0.001", "252"],
        ["lr-b", "0.003", "253"],
    ]
    assert len(table_after(text, "### ae")) == 1 + 3
    assert "![vae's maps along vae.lr](maps_vae.png)" in text


def test_the_maps_lie_side_by_side_pixel_for_pixel(runs, tmp_path) -> None:
    labels = ["a", "b", "c"]
    boxes = figures.maps_strip([r.maps["vae"] for r in runs], labels, tmp_path / "strip.png")
    strip = np.asarray(Image.open(tmp_path / "strip.png"))
    lefts = [box[0] for box in boxes]
    assert lefts == sorted(lefts) and len(set(lefts)) == 3
    for (left, top, width, height), r in zip(boxes, runs, strict=True):
        original = np.asarray(Image.open(io.BytesIO(r.maps["vae"])))
        assert np.array_equal(strip[top : top + height, left : left + width], original)


def test_the_measures_are_plotted_against_the_param_with_their_spread(runs) -> None:
    ordered = page.ordered(runs, ["vae.lr"])
    x = figures.axis([(r.params["vae.lr"],) for r in ordered], ["vae.lr"])
    fig = figures.measures_figure([r.summary for r in ordered], MODELS, x)
    axes = fig.get_axes()
    assert len(axes) == len(MEASURES)
    for k, ax in enumerate(axes):
        assert ax.get_xlabel() == "vae.lr" and MEASURES[k] in ax.get_title()
        assert ax.get_xscale() == "log"  # 0.0003 to 0.003
        vae = ax.containers[1]  # the errorbar of the second model
        line, _, (bars,) = vae.lines
        assert list(line.get_xdata()) == [0.0003, 0.001, 0.003]
        assert list(line.get_ydata()) == [1.0 + k, 2.0 + k, 3.0 + k]  # mean over seeds
        spans = [seg[1][1] - seg[0][1] for seg in bars.get_segments()]
        assert spans == pytest.approx([2 * 0.1 * (k + 1)] * 3)  # one sd over seeds each way


@pytest.mark.parametrize(
    ("values", "scale"),
    [
        ([0.0003, 0.001, 0.003], "log"),
        ([0, 1 / 784, 0.01, 0.1, 0.3, 1, 3], "symlog"),
        ([1, 2, 3], "linear"),
        (["a", "b"], "category"),
    ],
)
def test_the_axis_suits_the_values(values, scale) -> None:
    x = figures.axis([(v,) for v in values], ["p"])
    assert x.scale == scale and x.title == "p"
    assert len(x.labels) == len(values)


def test_two_swept_params_are_labelled_by_both() -> None:
    x = figures.axis([(0.1, 2), (0.2, 3)], ["vae.lr", "vae.epochs"])
    assert x.scale == "category" and x.title == "vae.lr, vae.epochs"
    assert x.labels == ["0.1, 2", "0.2, 3"]


@pytest.mark.parametrize(("beta", "named"), [(1 / 784, True), (0.0013, True), (0.01, False)])
def test_the_per_pixel_kl_of_a_public_solution_is_named(beta, named, tmp_path) -> None:
    beta_runs = [run("b0", "vae.beta", 0, 1), run("b1", "vae.beta", beta, 2)]
    page.write(tmp_path, beta_runs, ["vae.beta"], "0" * 40)
    text = (tmp_path / "report.md").read_text()
    assert ("is 1/784: the KL weight of a public solution of this lab" in text) == named


def test_swept_params_are_those_that_differ(runs) -> None:
    assert page.swept(runs) == ["vae.lr"]


def test_a_symlog_axis_holds_zero_and_the_largest_value_without_a_negative_half(runs) -> None:
    betas = [0, 1 / 784, 0.01, 0.1, 0.3, 1, 3]
    x = figures.axis([(b,) for b in betas], ["vae.beta"])
    summaries = [runs[0].summary] * len(betas)
    for ax in figures.measures_figure(summaries, MODELS, x).get_axes():
        left, right = ax.get_xlim()
        assert ax.get_xscale() == "symlog"
        assert -1 / 784 < left < 0 and right > 3

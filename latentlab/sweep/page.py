"""The sweep report, reports/sweep/: a markdown page and its figures, from finished experiments
(each a `Run`: its params, headline metrics, summary.csv and maps). Nothing here runs DVC or
git; experiments.py reads the runs out of a repository."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from latentlab.core.artifacts import write_bytes
from latentlab.report.comparison import CLAIMS, MECHANISM
from latentlab.sweep import figures

PAGE = "report.md"
MEASURES_PNG = "measures.png"
DPI = 110
# Values of a swept param that a reader should recognise: (key suffix, value, name, meaning).
LANDMARKS = (
    (
        ".beta",
        1 / 784,
        "1/784",
        "the KL weight of a public solution of this lab, which sums its KL over the code and "
        "divides it by batch size x 784, against a reconstruction term per image: a per-pixel KL",
    ),
)
LANDMARK_TOLERANCE = 0.025  # relative: 0.0013 is 1/784 written to two digits


@dataclass(frozen=True)
class Run:
    """One finished experiment, as the sweep report reads it."""

    name: str
    params: dict[str, Any]  # params.yaml, flattened to dotted keys
    metrics: dict[str, Any]  # reports/metrics.json
    summary: pd.DataFrame  # reports/summary.csv: mean and spreads of every measure
    maps: dict[str, bytes]  # model -> reports/figures/map_<model>.png (the first seed's map)


def swept(runs: Sequence[Run]) -> list[str]:
    """The params whose values differ between the runs, in params.yaml's order."""
    keys = list(dict.fromkeys(k for run in runs for k in run.params))
    return [k for k in keys if len({repr(run.params.get(k)) for run in runs}) > 1]


def _sort_key(values: tuple[object, ...]) -> tuple[object, ...]:
    return tuple((0, v, "") if isinstance(v, int | float) else (1, 0, str(v)) for v in values)


def ordered(runs: Sequence[Run], keys: Sequence[str]) -> list[Run]:
    """The runs along the swept params: numbers ascending, other values as text."""
    return sorted(runs, key=lambda r: _sort_key(tuple(r.params.get(k) for k in keys)))


def landmarks(keys: Sequence[str], runs: Sequence[Run]) -> list[tuple[str, object, str, str]]:
    """(key, value, name, meaning) for every swept value that is a landmark."""
    found = []
    for key in keys:
        for suffix, target, name, meaning in LANDMARKS:
            if not key.endswith(suffix):
                continue
            for value in {r.params.get(key) for r in runs}:
                if isinstance(value, int | float) and math.isclose(
                    value, target, rel_tol=LANDMARK_TOLERANCE
                ):
                    found.append((key, value, name, meaning))
    return found


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def experiments_table(runs: Sequence[Run], keys: Sequence[str], model: str) -> str:
    """One row per experiment: its name, swept params and `model`'s headline metrics."""
    metrics = list(dict.fromkeys(m for r in runs for m in (r.metrics.get(model) or {})))
    rows = [
        [
            r.name,
            *(r.params.get(k) for k in keys),
            *((r.metrics.get(model) or {}).get(m) for m in metrics),
        ]
        for r in runs
    ]
    frame = pd.DataFrame(rows, columns=["experiment", *keys, *metrics])
    return frame.map(_cell).to_markdown(index=False, disable_numparse=True)


def compared_models(runs: Sequence[Run]) -> list[str]:
    """Every model some run compares (report.models), in their order."""
    return list(dict.fromkeys(m for r in runs for m in (r.params.get("report.models") or [])))


def vaes_of(params: dict[str, Any]) -> list[str]:
    """The VAEs that one run compares: the models of report.models whose kind is vae."""
    return [m for m in params.get("report.models") or [] if params.get(f"{m}.kind") == "vae"]


def vae_models(runs: Sequence[Run]) -> list[str]:
    """The compared models that are VAEs in every run."""
    return [m for m in compared_models(runs) if all(m in vaes_of(r.params) for r in runs)]


def _intro(
    runs: Sequence[Run], keys: Sequence[str], commit: str, missing: Sequence[str]
) -> list[str]:
    seeds = sorted({repr(r.params.get("seeds")) for r in runs})
    lines = [
        f"# Sweep over {', '.join(keys)}",
        "",
        f"Made by `make sweep-report` from the {len(runs)} finished experiments of commit "
        f"{commit[:7]} below, as `dvc exp show` lists them; nothing was trained for this page. "
        f"Each value is a mean over an experiment's seeds (seeds {', '.join(seeds)}), and error "
        "bars are one standard deviation over seeds.",
        "",
    ]
    if missing:
        lines += [f"No finished experiment yet for: {', '.join(missing)}.", ""]
    for key, value, name, meaning in landmarks(keys, runs):
        lines += [f"`{key}` = {figures.value_text(value)} is {name}: {meaning}.", ""]
    return lines


def render(
    runs: Sequence[Run], keys: Sequence[str], commit: str, missing: Sequence[str] = ()
) -> tuple[str, figures.Axis]:
    """The page's markdown and the x axis of its figures, for runs in sweep order."""
    x = figures.axis([tuple(r.params.get(k) for k in keys) for r in runs], keys)
    lines = _intro(runs, keys, commit, missing)
    lines += ["## Experiments", ""]
    for model in compared_models(runs):
        lines += [f"### {model}", "", experiments_table(runs, keys, model), ""]
    claims = "; ".join(f"{c.text}: {', '.join(c.measures)}" for c in CLAIMS)
    lines += [
        f"## The claims' measures against {x.title}",
        "",
        f"![the claims' measures against {x.title}]({MEASURES_PNG})",
        "",
        f"The lab write-up's claims and their measures ({claims}), and the mechanism it names "
        f"({MECHANISM}: the share of test codes inside the lab's square); map measures are "
        "taken over the lab's square. One line per model.",
        "",
    ]
    for model in vae_models(runs):
        lines += [
            f"## {model}'s maps along {x.title}",
            "",
            f"![{model}'s maps along {x.title}](maps_{model}.png)",
            "",
            f"Each experiment's map of its first seed, pixel for pixel, labelled by {x.title}.",
            "",
        ]
    return "\n".join(lines), x


def write(
    folder: Path,
    runs: Sequence[Run],
    keys: Sequence[str],
    commit: str,
    missing: Sequence[str] = (),
) -> list[str]:
    """Write the page and its figures into `folder`, remove any other file there, and return
    the names written."""
    runs = ordered(runs, keys)
    text, x = render(runs, keys, commit, missing)
    marks = [(float(v), name) for _, v, name, _ in landmarks(keys, runs) if x.scale != "category"]
    fig = figures.measures_figure([r.summary for r in runs], compared_models(runs), x, marks)
    figures.save_figure(fig, folder / MEASURES_PNG, DPI)
    written = [PAGE, MEASURES_PNG]
    labels = [", ".join(f"{k} = {figures.value_text(r.params.get(k))}" for k in keys) for r in runs]
    for model in vae_models(runs):
        figures.maps_strip([r.maps[model] for r in runs], labels, folder / f"maps_{model}.png")
        written.append(f"maps_{model}.png")
    write_bytes(folder / PAGE, (text + "\n").encode())
    for stale in folder.iterdir():
        if stale.is_file() and stale.name not in written:
            stale.unlink()
    return written

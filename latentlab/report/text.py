"""The report's text: tables generated from the measured numbers, never typed, and with the
answer's paragraphs (report/answer.py) and the mechanisms' (report/mechanisms.py) filled into the
fixed prose of report.md.j2 (a Jinja2 template beside this module).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import jinja2
import pandas as pd

from latentlab.analysis.codes import PRIOR_BAND
from latentlab.analysis.metrics import BY_NAME, HIGHER, LOWER, METRICS
from latentlab.core.fashion_mnist import CLASSES
from latentlab.core.params import Params
from latentlab.report import answer, instruments, mechanisms
from latentlab.report.answer import CLAIM_MEASURES, REFERENCES, fooled_by
from latentlab.report.comparison import (
    MECHANISM,
    MIN_JUDGES,
    MIN_SEEDS,
    ClaimResult,
    MeasureVerdict,
)
from latentlab.report.factorial import Factorial, prior_weight
from latentlab.report.labels import label, meaning
from latentlab.report.results import Numbers, calibration_means

TEMPLATE = Path(__file__).with_name("report.md.j2")


def _better(metric: str) -> str:
    return {HIGHER: "higher", LOWER: "lower"}.get(BY_NAME[metric].better, "")


def _short(value: float, sign: str = "") -> str:
    """Two significant digits, without an exponent for values of 100 or more."""
    return f"{value:{sign}.0f}" if abs(value) >= 100 else f"{value:{sign}.2g}"


def _gains_text(m: MeasureVerdict) -> str:
    """Per seed the VAE's gain in the better direction and the noise it must exceed ("?" where
    the noise is unknown: a single judge)."""
    return ", ".join(
        f"{_short(g, '+')} {'>' if h else '≤'} {'?' if s != s else _short(s)}"
        for g, s, h in zip(m.gains, m.spreads, m.holds, strict=True)
    )


def claims_table(results: list[ClaimResult], vae: str, ae: str, numbers: Numbers, p: Params) -> str:
    """One row per measure of each claim: both models' values, seeds holding, and verdicts."""
    rows = []
    for r in results:
        for i, m in enumerate(r.measures[ae]):
            rows.append(
                {
                    "claim": r.claim.text if i == 0 else "",
                    "claim verdict": f"**{r.verdicts[ae]}**" if i == 0 else "",
                    "measure": label(m.metric, p),
                    "better": _better(m.metric),
                    vae: numbers.cell(vae, m.metric),
                    ae: numbers.cell(ae, m.metric),
                    "VAE's gain > noise, per seed": _gains_text(m),
                    "holds on seeds": m.supported_on,
                    "verdict": f"{m.verdict} ({m.short_reason})" if m.reasons else m.verdict,
                }
            )
    return pd.DataFrame(rows).to_markdown(index=False)


def metrics_table(numbers: Numbers, models: list[str], p: Params) -> str:
    """Every measure of every compared model; a map's measures over both squares."""
    rows = []
    for metric in METRICS:
        if metric.stage == "judge":
            continue
        squares = ("lab", "own") if metric.stage == "render" else ("",)
        for square in squares:
            cells = {m: numbers.cell(m, metric.name, square) for m in models}
            if all(c == "—" for c in cells.values()):
                continue
            where = {"lab": " (lab's square)", "own": " (own square)", "": ""}[square]
            # The own square is drawn to hold the model's codes, so that share has no better side.
            by_design = metric.name == MECHANISM and square == "own"
            better = "" if by_design else _better(metric.name)
            rows.append({"measure": label(metric.name, p) + where, "better": better, **cells})
    return pd.DataFrame(rows).to_markdown(index=False)


def _spreads(calibration: pd.DataFrame, metric: str) -> str:
    """Real images' lead over noise on `metric` in the judges' spreads of it (instruments'
    SEPARATION floor): "?" with one judge, "∞" where the judges agree exactly."""
    gap, spread = instruments.separation(calibration, metric)
    if math.isnan(spread):
        return "?"
    return f"{gap / spread:.3g}" if spread > 0 else ("∞" if gap > 0 else "0")


def calibration_table(
    calibration: pd.DataFrame, numbers: Numbers, models: list[str], p: Params
) -> str:
    """Each judge-based map measure on the reference images and on each model's lab map."""
    value = calibration_means(calibration)
    rows = []
    for metric in dict.fromkeys(calibration.metric):
        fooled = fooled_by(calibration, metric)
        rows.append(
            {
                "measure": label(metric, p),
                "better": _better(metric),
                **{name: f"{value[(r, metric)]:.3g}" for r, name in REFERENCES.items()},
                **{f"`{m}` map": f"{numbers.mean(m, metric, 'lab'):.3g}" for m in models},
                "fooled by": "real images score no better than noise"
                if fooled is None
                else ", ".join(REFERENCES[t] for t in fooled) or "neither",
                "real lead over noise, in judges' spreads": _spreads(calibration, metric),
            }
        )
    return pd.DataFrame(rows).to_markdown(index=False)


def params_table(p: Params) -> str:
    """The params each compared model was trained with (the template says the rest)."""
    rows = [
        {
            "model": m.name,
            "kind": m.kind,
            "latent_dim": m.latent_dim,
            "hidden": str(m.hidden),
            "prior term": f"{weight[0]} {weight[1]:g}" if (weight := prior_weight(m)) else "none",
            "epochs": m.epochs,
            "batch_size": m.batch_size,
            "lr": f"{m.lr:g}",
        }
        for m in p.compared
    ]
    return pd.DataFrame(rows).to_markdown(index=False)


def own_squares_table(results: list[ClaimResult], aes: list[str]) -> str:
    """The map claims tested over each model's own square, against every autoencoder."""
    rows = [
        {"claim": r.claim.text, **{f"against `{ae}`": str(r.own_verdicts[ae]) for ae in aes}}
        for r in results
        if r.about_the_map
    ]
    return pd.DataFrame(rows).to_markdown(index=False)


def markdown(lines: list[str]) -> str:
    """Paragraphs as Markdown: a blank line between paragraphs, none between the items of a
    list (lines that start with "- ")."""
    out = ""
    for before, line in zip(["", *lines], lines, strict=False):
        tight = before.startswith("- ") and line.startswith("- ")
        out += ("\n" if tight else "\n\n" if out else "") + line
    return out


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _template() -> jinja2.Template:
    """The report's template: Markdown as is (no HTML escaping), a missing value an error."""
    env = jinja2.Environment(
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fmt=format, plural=_plural, md=markdown)
    return env.from_string(TEMPLATE.read_text(encoding="utf-8"))


def _comparisons(
    results: dict[str, list[ClaimResult]], numbers: Numbers, p: Params
) -> list[dict[str, object]]:
    """Per VAE: its claims table against each autoencoder, and the own-square verdicts."""
    return [
        {
            "vae": vae,
            "tables": [
                (ae, claims_table(claims, vae, ae, numbers, p)) for ae in claims[0].measures
            ],
            "own_squares": own_squares_table(claims, list(claims[0].measures)),
        }
        for vae, claims in results.items()
    ]


def _design(fact: Factorial | None, summary: pd.DataFrame, p: Params) -> dict[str, object]:
    """The mechanisms' section: the design's note, the effects and diagnostics tables and the
    Why's paragraphs; without a complete design only the Why's one sentence."""
    if fact is None:
        return {
            "cells": None,
            "why": [
                "**Why.** The compared models hold no complete 2 x 2 design of the two mechanisms "
                "(points or distributions, each with and without a prior term, sharing hidden "
                "layers and training), so which of them carries a VAE's advantage is not tested."
            ],
        }
    return {
        "why": mechanisms.why(fact, summary),
        "note": mechanisms.design_note(fact, p),
        "effects": mechanisms.effects_table(fact, p),
        "diagnostics": mechanisms.diagnostics_table(summary, p),
        "cells": fact.cells,
    }


def report(
    p: Params,
    summary: pd.DataFrame,
    table: pd.DataFrame,
    results: dict[str, list[ClaimResult]],
    fact: Factorial | None,
    calibration: pd.DataFrame,
    figures: list[str],
) -> str:
    """The whole of reports/report.md: the template filled with the generated tables and
    sentences, refused if it shows a figure that was not drawn. `fact` is the mechanisms'
    factorial (None without a complete design), `calibration` results.gather_calibration's."""
    numbers = Numbers(summary)
    models = p.report.models
    accuracy = numbers.mean("judge", "test_accuracy")
    design = _design(fact, summary, p)
    text = _template().render(
        p=p,
        lm=p.latent_map,
        models=models,
        accuracy=accuracy,
        accuracy_spread=numbers.spread("judge", "test_accuracy"),
        glance=answer.glance_table(results, fact) if results else "",
        instruments=answer.instrument_lines(accuracy, calibration, results, fact),
        comparisons=_comparisons(results, numbers, p),
        answer=answer.answer(results, numbers, table, design["why"], p) if results else [],
        calibration_lines=answer.calibration_lines(calibration) if results else [],
        design=design,
        measures=[
            {"label": label(m, p), "better": _better(m), "meaning": meaning(m, p)}
            for m in CLAIM_MEASURES
        ],
        rules={
            "min_seeds": MIN_SEEDS,
            "min_judges": MIN_JUDGES,
            "accuracy_floor": instruments.JUDGE_ACCURACY_FLOOR,
            "chance": 1 / len(CLASSES),
            "separation": instruments.SEPARATION,
            "sign_test": answer.sign_test_sentence(len(p.seeds)),
            "prior_band": PRIOR_BAND,
        },
        path_codes=p.interpolate.steps + 1,
        reference_images=min(p.latent_map.grid**2, p.images("train")),
        calibration_table=calibration_table(calibration, numbers, models, p),
        metrics_table=metrics_table(numbers, models, p),
        params_table=params_table(p),
    )
    missing = set(re.findall(r"\]\(figures/([^)]*)\)", text)) - set(figures)
    if missing:
        raise ValueError(f"the report refers to figures that were not drawn: {sorted(missing)}")
    return text

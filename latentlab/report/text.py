"""The report's text: tables and sentences generated from the measured numbers, never typed,
filled into the fixed prose of report.md.j2 (a Jinja2 template beside this module).

Every sentence of the answer is chosen by a verdict or by comparing two measured values, and
every number in it comes from the summary table.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pandas as pd

from latentlab.analysis.metrics import BY_NAME, HIGHER, LOWER, METRICS
from latentlab.core.params import Params
from latentlab.report.comparison import (
    CLAIMS,
    MECHANISM,
    NOT_DECIDED,
    NOT_SUPPORTED,
    SUPPORTED,
    ClaimResult,
    MeasureVerdict,
    measure_verdict,
    square_of,
    vaes_and_aes,
)
from latentlab.report.labels import label, meaning

CLAIM_MEASURES = tuple(m for claim in CLAIMS for m in claim.measures)
TEMPLATE = Path(__file__).with_name("report.md.j2")


class Numbers:
    """Lookups into the summary table (model, square, metric -> mean, spreads)."""

    def __init__(self, summary: pd.DataFrame) -> None:
        self.table = summary.set_index(["model", "square", "metric"])

    def has(self, model: str, metric: str, square: str | None = None) -> bool:
        """Whether the summary holds this metric for this model."""
        square = square_of(metric) if square is None else square
        return (model, square, metric) in self.table.index

    def mean(self, model: str, metric: str, square: str | None = None) -> float:
        """The mean over seeds (of the mean over judges)."""
        square = square_of(metric) if square is None else square
        return float(self.table.loc[(model, square, metric), "mean"])

    def spread(self, model: str, metric: str, square: str | None = None) -> float:
        """The standard deviation over seeds (of the mean over judges)."""
        square = square_of(metric) if square is None else square
        return float(self.table.loc[(model, square, metric), "std_seeds"])

    def cell(self, model: str, metric: str, square: str | None = None) -> str:
        """mean ± the seeds' std, and the judges' mean std for a measure every judge takes."""
        square = square_of(metric) if square is None else square
        if not self.has(model, metric, square):
            return "—"
        row = self.table.loc[(model, square, metric)]
        text = f"{row['mean']:.4g}"
        if row["seeds"] > 1:
            text += f" ± {row['std_seeds']:.2g}"
        if BY_NAME[metric].per_judge and row["std_judges"] > 0:
            text += f" (judges ± {row['std_judges']:.2g})"
        return text


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def _better(metric: str) -> str:
    return {HIGHER: "higher", LOWER: "lower"}.get(BY_NAME[metric].better, "")


def _short(value: float, sign: str = "") -> str:
    """Two significant digits, without an exponent for values of 100 or more."""
    return f"{value:{sign}.0f}" if abs(value) >= 100 else f"{value:{sign}.2g}"


def _gains_text(m: MeasureVerdict) -> str:
    """Per seed the VAE's gain in the better direction and the noise it must exceed."""
    return ", ".join(
        f"{_short(g, '+')} {'>' if h else '≤'} {_short(s)}"
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
                    "verdict": m.verdict,
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


# How the report names the calibrate stage's reference sets (measures.REFERENCE_SETS).
REFERENCES = {
    "real": "training images",
    "blurred": "blurred training images",
    "ghosts": "ghosts (two items averaged)",
    "noise": "uniform noise",
}
TRICKS = ("blurred", "ghosts")  # the references that are not items but may pass for them
FOOLED_AT = 0.5  # a trick's share of the way from noise to real images: closer to real images


def fooled_by(calibration: pd.DataFrame, metric: str) -> list[str] | None:
    """The references in TRICKS that score closer to real images than to noise on `metric`, or
    None when the measure does not even tell real images from noise."""
    value = calibration.set_index(["reference", "metric"])["mean"]
    real, noise = value[("real", metric)], value[("noise", metric)]
    better = BY_NAME[metric].better
    if (real - noise if better == HIGHER else noise - real) <= 0:
        return None
    return [t for t in TRICKS if (value[(t, metric)] - noise) / (real - noise) > FOOLED_AT]


def calibration_table(
    calibration: pd.DataFrame, numbers: Numbers, models: list[str], p: Params
) -> str:
    """Each judge-based map measure on the reference images and on each model's lab map."""
    value = calibration.set_index(["reference", "metric"])["mean"]
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
            }
        )
    return pd.DataFrame(rows).to_markdown(index=False)


def calibration_sentence(calibration: pd.DataFrame) -> str:
    """Which claim measures images that are not items pass for items, said from the numbers."""
    measured = [m for m in CLAIM_MEASURES if m in set(calibration.metric)]
    fooled = {m: fooled_by(calibration, m) for m in measured}

    def names(metrics: list[str]) -> str:
        return ", ".join(f"*{m.replace('_', ' ')}*" for m in metrics)

    parts = [
        f"{REFERENCES[t]} on {names(by)}"
        for t in TRICKS
        if (by := [m for m in measured if fooled[m] and t in fooled[m]])
    ]
    sound = [m for m in measured if fooled[m] == []]
    blind = [m for m in measured if fooled[m] is None]
    text = "**How far the measures can be fooled.** Measured as a map's tiles are, "
    if parts:
        text += (
            "images that are not items score closer to real images than to noise: "
            + "; ".join(parts)
            + ". A verdict resting on such a measure shows that one map's tiles look more like "
            "items to the judges, not that they are items rather than blurs or overlays."
        )
        if sound:
            text += f" Neither passes for items on {names(sound)}."
    elif sound:
        text += f"neither blurred images nor ghosts pass for items on {names(sound)}."
    if blind:
        verb = "it measures" if len(blind) == 1 else "they measure"
        text += (
            f"{' ' if parts or sound else ''}Real images score no better than noise on "
            f"{names(blind)}: {verb} nothing here."
        )
    return text


def params_table(p: Params) -> str:
    """The params each compared model was trained with (the template says the rest)."""
    rows = [
        {
            "model": m.name,
            "kind": m.kind,
            "latent_dim": m.latent_dim,
            "hidden": str(m.hidden),
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


def _names(models: list[str]) -> str:
    return " and ".join(f"`{m}`" for m in models)


def capacity_sentence(result: ClaimResult, lab_aes: list[str], matched: list[str]) -> str:
    """What the capacity-matched autoencoders (the VAE's hidden layers) say about a claim: the
    VAE objective, capacity, or undecided. Chosen from the verdicts alone."""
    if not matched:
        return (
            "No capacity-matched autoencoder is compared, so the VAE objective and capacity "
            "cannot be told apart."
        )
    names = _names(matched)
    same = [result.verdicts[n] for n in matched]
    kinds = {v.verdict for v in same}
    against_lab = [result.verdicts[n] for n in lab_aes]
    if not lab_aes and kinds != {SUPPORTED}:
        return (
            f"It is {', '.join(v.verdict for v in same)} against the capacity-matched {names} "
            f"and no lab autoencoder is compared, so there is no advantage to put down to the "
            f"VAE objective or to capacity."
        )
    if any(v.verdict != SUPPORTED for v in against_lab):
        # Only a VAE advantage over the lab's autoencoder can be put down to the objective or to
        # capacity; without one there is nothing to explain.
        matched_text = ", ".join(v.verdict for v in same)
        return (
            f"Without a consistent advantage over the lab's {_names(lab_aes)}, there is nothing "
            f"for the VAE objective or capacity to explain (against the capacity-matched {names} "
            f"it is {matched_text})."
        )
    if any(v.verdict == NOT_DECIDED for v in same):
        return (
            f"Against the capacity-matched {names} the judges do not decide it, so whether the "
            f"objective or capacity explains it is open."
        )
    if kinds == {SUPPORTED}:
        return _objective_or_capacity(result, matched)
    if kinds == {NOT_SUPPORTED}:
        return (
            f"The capacity-matched {names} does as well or better, so capacity explains it, "
            f"not the VAE objective."
        )
    return (
        f"Against the capacity-matched {names} the evidence is mixed, so capacity explains at "
        f"least part of it."
    )


def _objective_or_capacity(result: ClaimResult, matched: list[str]) -> str:
    """capacity_sentence for a claim that holds against every capacity-matched autoencoder:
    the VAE objective explains it, unless a map claim fails over the models' own squares."""
    names = _names(matched)
    same = [result.verdicts[n] for n in matched]
    partly = not all(v.full for v in same)
    hedge = " (on its decided measures)" if partly else ""
    if not result.about_the_map:
        return (
            f"It holds against the capacity-matched {names} too{hedge}, so the VAE objective "
            f"explains it, not capacity."
        )
    own = {result.own_verdicts[n].verdict for n in matched}
    if own == {SUPPORTED}:
        return (
            f"It holds against the capacity-matched {names} too{hedge}, over the lab's square "
            f"and over each model's own square, so the VAE objective explains it, not "
            f"capacity."
        )
    own_text = ", ".join(str(result.own_verdicts[n]) for n in matched)
    return (
        f"Against the capacity-matched {names} it holds over the lab's square{hedge} but is "
        f"{own_text} over each model's own square: the VAE objective puts the codes inside "
        f"the lab's square, and capacity explains the map's quality where the codes are."
    )


def claim_sentences(result: ClaimResult, lab_aes: list[str], matched: list[str]) -> str:
    """A claim's verdicts against every autoencoder, and what capacity has to do with them."""
    parts = []
    for name in lab_aes + matched:
        v = result.verdicts[name]
        parts.append(f"{v.verdict} against `{name}`" + (f" ({v.note})" if v.note else ""))
    text = f"**{result.claim.text}**: " + ", ".join(parts) + "."
    return f"{text} {capacity_sentence(result, lab_aes, matched)}"


def answer(
    results: dict[str, list[ClaimResult]], numbers: Numbers, table: pd.DataFrame, p: Params
) -> list[str]:
    """The opening answer to the lab's question, as Markdown paragraphs: what the maps show,
    which claims hold, and the mechanism the numbers point to."""
    paragraphs = []
    models = p.report.models
    shows = "; ".join(
        f"`{m}`'s map covers {_percent(numbers.mean(m, 'coverage'))} of the test images and "
        f"shows {numbers.mean(m, 'classes_present'):.1f} kinds of item"
        for m in models
    )
    paragraphs.append(
        f"**What the maps show.** Over the lab's square [-{p.latent_map.range:g}, "
        f"{p.latent_map.range:g}]², {shows} (coverage: the share of test images whose "
        f"{p.realism.k}-nearest-neighbour ball, in the judges' features, holds a map tile)."
    )
    hidden = {m.name: m.hidden for m in p.compared}
    _, aes = vaes_and_aes(p)
    for vae, claims in results.items():
        matched = [n for n in aes if hidden[n] == hidden[vae]]
        lab_aes = [n for n in aes if n not in matched]
        sentences = [claim_sentences(r, lab_aes, matched) for r in claims]
        paragraphs.append(f"**Which claims hold, for `{vae}`.** " + " ".join(sentences))
        paragraphs.append(mechanism(vae, aes, numbers, table))
    return paragraphs


def mechanism(vae: str, aes: list[str], numbers: Numbers, table: pd.DataFrame) -> str:
    """Where each model's codes lie, how much of each map is decoded from codes no test image
    has, and whether the lab's square or the latent space made an autoencoder's map poorer."""
    inside = {m: numbers.mean(m, MECHANISM) for m in [vae, *aes]}
    verdicts = {ae: measure_verdict(table, MECHANISM, vae, ae).verdict for ae in aes}
    others = ", ".join(f"{_percent(inside[ae])} of `{ae}`'s" for ae in aes)
    if set(verdicts.values()) == {SUPPORTED}:
        text = (
            f"**Why.** The KL term pulls the VAE's codes towards the prior N(0, I): "
            f"{_percent(inside[vae])} of `{vae}`'s test codes lie inside the lab's square, "
            f"against {others}, whose codes nothing holds near the origin."
        )
    else:
        text = (
            f"**Why.** {_percent(inside[vae])} of `{vae}`'s test codes lie inside the lab's "
            f"square, against {others}: the prior does not keep the VAE's codes inside the "
            f"square better than every autoencoder's on every seed."
        )
    outside = [ae for ae in aes if inside[ae] < 0.5]
    if outside:
        text += f" Most of the codes of {_names(outside)} lie outside the lab's map."
    with_data = ", ".join(
        f"{_percent(numbers.mean(m, 'tiles_with_data', 'lab'))} of `{m}`'s" for m in [vae, *aes]
    )
    text += (
        f" Of the tiles of each map, {with_data} hold a test code; the others are decoded from "
        f"codes no test image has."
    )
    vae_cov = numbers.mean(vae, "coverage", "own")
    vae_spread = numbers.spread(vae, "coverage", "own")
    for ae in aes:
        own_cov = numbers.mean(ae, "coverage", "own")
        margin = (vae_spread**2 + numbers.spread(ae, "coverage", "own") ** 2) ** 0.5
        if own_cov > vae_cov + margin:
            verdict = (
                "more than the VAE's map over its own square, so the lab's square, not the "
                "latent space, made the autoencoder's map poorer"
            )
        elif own_cov >= vae_cov - margin:
            verdict = (
                "about as much as the VAE's map over its own square (within the seeds' spread), "
                "so the lab's square, more than the latent space, made the autoencoder's map "
                "poorer"
            )
        else:
            verdict = (
                "less than the VAE's map over its own square, so the autoencoder's latent space "
                "itself covers fewer of the test images, not only the square"
            )
        text += (
            f" Over the square of its own codes, `{ae}`'s map covers {_percent(own_cov)} of the "
            f"test images (over the lab's square {_percent(numbers.mean(ae, 'coverage', 'lab'))}), "
            f"{verdict}."
        )
    return text


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
    env.filters.update(fmt=format, plural=_plural)
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


def report(
    p: Params,
    summary: pd.DataFrame,
    table: pd.DataFrame,
    results: dict[str, list[ClaimResult]],
    calibration: pd.DataFrame,
    figures: list[str],
) -> str:
    """The whole of reports/report.md: the template filled with the generated tables and
    sentences, refused if it shows a figure that was not drawn."""
    numbers = Numbers(summary)
    models = p.report.models
    accuracy = summary[(summary.model == "judge") & (summary.metric == "test_accuracy")].iloc[0]
    text = _template().render(
        p=p,
        lm=p.latent_map,
        models=models,
        accuracy=accuracy["mean"],
        accuracy_spread=accuracy["std_seeds"],
        comparisons=_comparisons(results, numbers, p),
        answer=answer(results, numbers, table, p) if results else [],
        calibration_sentence=calibration_sentence(calibration) if results else "",
        measures=[
            {"label": label(m, p), "better": _better(m), "meaning": meaning(m, p)}
            for m in CLAIM_MEASURES
        ],
        sign_test_p=0.5 ** len(p.seeds),
        reference_images=min(p.latent_map.grid**2, p.images("train")),
        calibration_table=calibration_table(calibration, numbers, models, p),
        metrics_table=metrics_table(numbers, models, p),
        params_table=params_table(p),
    )
    missing = set(re.findall(r"\]\(figures/([^)]*)\)", text)) - set(figures)
    if missing:
        raise ValueError(f"the report refers to figures that were not drawn: {sorted(missing)}")
    return text

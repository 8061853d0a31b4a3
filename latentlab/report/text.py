"""The report's text: tables and sentences generated from the measured numbers, never typed.

Every sentence of the answer is chosen by a verdict or by comparing two measured values, and
every number in it comes from the summary table.
"""

from __future__ import annotations

import pandas as pd

from latentlab.analysis.metrics import BY_NAME, HIGHER, LOWER, METRICS
from latentlab.core.params import Params
from latentlab.report.comparison import (
    MECHANISM,
    MIXED,
    NOT_DECIDED,
    NOT_SUPPORTED,
    SUPPORTED,
    ClaimResult,
    measure_verdict,
    square_of,
)


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
        if BY_NAME[metric].judged and row["std_judges"] > 0:
            text += f" (judges ± {row['std_judges']:.2g})"
        return text


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def _better(metric: str) -> str:
    return {HIGHER: "higher", LOWER: "lower"}.get(BY_NAME[metric].better, "")


def claims_table(results: list[ClaimResult], vae: str, ae: str, numbers: Numbers, p: Params) -> str:
    """One row per measure of each claim: both models' values, seeds holding, and verdicts."""
    rows = []
    for r in results:
        for i, m in enumerate(r.measures[ae]):
            rows.append(
                {
                    "claim": r.claim.text if i == 0 else "",
                    "claim verdict": f"**{r.verdicts[ae]}**" if i == 0 else "",
                    "measure": BY_NAME[m.metric].label_for(p),
                    "better": _better(m.metric),
                    vae: numbers.cell(vae, m.metric),
                    ae: numbers.cell(ae, m.metric),
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
            label = metric.label_for(p)
            where = {"lab": " (lab's square)", "own": " (own square)", "": ""}[square]
            rows.append({"measure": label + where, "better": _better(metric.name), **cells})
    return pd.DataFrame(rows).to_markdown(index=False)


def params_table(p: Params) -> str:
    """The params each compared model was trained with, and the settings of the measures."""
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
    data = "all" if p.limit == 0 else f"the first {p.limit}"
    lm, j, r, pp = p.latent_map, p.judge, p.realism, p.paths
    return (
        pd.DataFrame(rows).to_markdown(index=False)
        + f"\n\nSeeds {p.seeds}; {data} images of each split; device `{p.device}`. Maps: "
        f"{lm.grid} x {lm.grid} codes over [-{lm.range:g}, {lm.range:g}]^2, and over the square "
        f"of each model's test codes from percentile {lm.own_percentile:g} to "
        f"{100 - lm.own_percentile:g}. Judges: seeds {j.seeds}, {j.channels} channels, "
        f"{j.epochs} epochs. Realism: k = {r.k}, {r.subsets} real subsets. Paths: {pp.pairs} "
        f"pairs, {pp.steps} steps."
    )


def _claim_sentence(result: ClaimResult, matched: list[str], others: list[str]) -> str:
    """What a claim's verdicts say, against the lab's autoencoders and the capacity-matched ones
    (the autoencoders with the VAE's hidden layers)."""
    text = (
        f"**{result.claim.text}**: "
        + ", ".join(f"{result.verdicts[n]} against `{n}`" for n in others + matched)
        + "."
    )
    lab = {result.verdicts[n] for n in others}
    same = {result.verdicts[n] for n in matched}
    names = " and ".join(f"`{n}`" for n in matched)
    if lab == {SUPPORTED} and same == {SUPPORTED} and matched:
        return text + (
            f" It holds against the capacity-matched {names} too, so the VAE objective explains "
            f"it, not capacity."
        )
    if lab == {SUPPORTED} and matched:
        return text + (
            f" The capacity-matched {names} does not lose to the VAE the same way, so capacity "
            f"explains much of it, not the VAE objective alone."
        )
    verdicts = lab or same
    if verdicts == {NOT_SUPPORTED}:
        return text + " The numbers do not support it."
    if NOT_DECIDED in verdicts:
        return text + " The judges do not agree enough to decide it."
    if MIXED in verdicts:
        return text + " Its measures or seeds disagree, so it is at best partly true."
    return text


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
    kinds = {m.name: m.kind for m in p.compared}
    for vae, claims in results.items():
        aes = [n for n in models if kinds[n] == "ae"]
        matched = [n for n in aes if hidden[n] == hidden[vae]]
        others = [n for n in aes if n not in matched]
        sentences = [_claim_sentence(r, matched, others) for r in claims]
        paragraphs.append(f"**Which claims hold, for `{vae}`.** " + " ".join(sentences))
        paragraphs.append(_mechanism(vae, aes, numbers, table))
    return paragraphs


def _mechanism(vae: str, aes: list[str], numbers: Numbers, table: pd.DataFrame) -> str:
    """The mechanism: where each model's codes lie, and whether the lab's square missed them."""
    inside = {m: _percent(numbers.mean(m, MECHANISM)) for m in [vae, *aes]}
    verdicts = {ae: measure_verdict(table, MECHANISM, vae, ae).verdict for ae in aes}
    others = ", ".join(f"{inside[ae]} of `{ae}`'s" for ae in aes)
    if set(verdicts.values()) == {SUPPORTED}:
        text = (
            f"**Why.** The KL term pulls the VAE's codes towards the prior N(0, I): "
            f"{inside[vae]} of `{vae}`'s test codes lie inside the lab's square, against "
            f"{others}, whose codes nothing holds near the origin: most of an autoencoder's "
            f"codes lie outside the lab's map, and much of its map is extrapolation."
        )
    else:
        text = (
            f"**Why.** {inside[vae]} of `{vae}`'s test codes lie inside the lab's square, "
            f"against {others}: the prior does not keep the VAE's codes inside the square "
            f"better than every autoencoder's on every seed."
        )
    vae_cov = numbers.mean(vae, "coverage")
    vae_spread = numbers.spread(vae, "coverage")
    for ae in aes:
        own_cov = numbers.mean(ae, "coverage", "own")
        margin = (vae_spread**2 + numbers.spread(ae, "coverage", "own") ** 2) ** 0.5
        if own_cov > vae_cov + margin:
            verdict = (
                "more than the VAE's map over the lab's square, so the lab's square, not its "
                "latent space, made its map look poor"
            )
        elif own_cov >= vae_cov - margin:
            verdict = (
                "about as much as the VAE's map over the lab's square (within the seeds' "
                "spread), so the lab's square, more than its latent space, made its map look poor"
            )
        else:
            verdict = (
                "still less than the VAE's map over the lab's square, so its latent space "
                "itself covers fewer of the test images, not only the square"
            )
        text += (
            f" Over the square that holds its own test codes, `{ae}`'s map covers "
            f"{_percent(own_cov)} of the test images (against "
            f"{_percent(numbers.mean(ae, 'coverage', 'lab'))} over the lab's square): {verdict}."
        )
    return text


def measure_lines(p: Params) -> list[str]:
    """One line per claim's measure saying what it is (the README says the same)."""
    return [
        f"- **{BY_NAME[name].label_for(p)}** ({_better(name)} is better)"
        for name in (
            "coverage",
            "classes_present",
            "inception_score",
            "path_evenness",
            "path_middle_precision",
            "precision",
            "frechet_distance",
        )
    ]


def verdict_rules(judges: int) -> str:
    """How a verdict is reached, said once under the claims tables."""
    return (
        "A claim holds on a seed when the VAE beats the autoencoder on that seed (seed i against "
        "seed i) in the measure's better direction and, for a judge-based measure, by more than "
        f"the {judges} judges' standard deviation of the difference. **supported**: it holds on "
        "every seed; **not supported**: on none; **mixed**: on some. **not decided**: leaving "
        "out any one judge changes the verdict, so the measure is not fit for a verdict. A "
        "claim's verdict is its decided measures' verdict when they agree, mixed otherwise."
    )


def report(
    p: Params,
    summary: pd.DataFrame,
    table: pd.DataFrame,
    results: dict[str, list[ClaimResult]],
    figures: list[str],
) -> str:
    """The whole of reports/report.md."""
    numbers = Numbers(summary)
    models = p.report.models
    accuracy = summary[(summary.model == "judge") & (summary.metric == "test_accuracy")].iloc[0]
    lines = [
        "# AE vs VAE latent spaces on Fashion-MNIST (2-D codes)",
        "",
        "Generated by the `report` stage from the pipeline's tracked artifacts; every number, "
        "verdict and sentence below is computed, none typed. Values are means ± standard "
        f"deviation over seeds {p.seeds}; a judge-based measure is first averaged over "
        f"{len(p.judge.seeds)} judge CNNs (seeds {p.judge.seeds}, test accuracy "
        f"{accuracy['mean']:.4f} ± {accuracy['std_seeds']:.2g}), whose spread is shown as "
        f'"judges ±". Figures show seed {p.seeds[0]}.',
        "",
    ]
    if results:
        lines += ["## The answer", "", *(par + "\n" for par in answer(results, numbers, table, p))]
    else:
        lines += [
            "## The answer",
            "",
            "No comparison: `report.models` lists no VAE together with an autoencoder, so the "
            "write-up's claims cannot be tested; the maps and measures follow.",
            "",
        ]
    lines += [
        "## The latent maps",
        "",
        f"Each model's map over the lab's square, {p.latent_map.grid} x {p.latent_map.grid} "
        f"codes, z = [-r, r] top left and [r, -r] bottom right, drawn pixel for pixel:",
        "",
        "![latent maps](figures/maps.png)",
        "",
        *(f"`{m}`: ![{m} map](figures/map_{m}.png)\n" for m in models),
    ]
    for vae, claims in results.items():
        lines += ["## The write-up's claims, measured", ""]
        for ae in claims[0].measures:
            lines += [
                f"### `{vae}` against `{ae}`",
                "",
                claims_table(claims, vae, ae, numbers, p),
                "",
            ]
        lines += [verdict_rules(len(p.judge.seeds)), "", *measure_lines(p), ""]
    lines += [
        "## Where the data lies, and the paths between test items",
        "",
        "Left: the map, tiles that hold no test code shaded (decoded by extrapolation), and the "
        f"first {p.paths.shown} of the {p.paths.pairs} measured paths between test images of "
        "different classes. Right: the test codes, the lab's square and the same paths.",
        "",
        *(f"![{m} data and paths](figures/data_{m}.png)\n" for m in models),
        "The decoded images along those paths, the real test images at their ends:",
        "",
        "![interpolations](figures/interpolations.png)",
        "",
        "## Each model over its own codes' square",
        "",
        "The lab's square against the square that holds each model's own test codes (their "
        f"percentiles {p.latent_map.own_percentile:g} to {100 - p.latent_map.own_percentile:g}, "
        "made square); the measures over both squares are in the table of all measures.",
        "",
        "![own squares](figures/own_squares.png)",
        "",
        "## Reconstructions, samples from the prior, the map as it learns",
        "",
        "![reconstructions](figures/reconstructions.png)",
        "",
        f"{p.latent_map.prior_samples} codes drawn from N(0, I), decoded by each model:",
        "",
        "![prior samples](figures/prior_samples.png)",
        "",
        f"The {p.progress_map.grid} x {p.progress_map.grid} map over "
        f"[-{p.progress_map.range:g}, {p.progress_map.range:g}]^2 after each of these epochs:",
        "",
        "![evolution](figures/evolution.png)",
        "",
        "## All measures",
        "",
        metrics_table(numbers, models, p),
        "",
        "![tiles per class](figures/tile_classes.png)",
        "",
        "## Training",
        "",
        "![training curves](figures/training_curves.png)",
        "",
        "## Params",
        "",
        params_table(p),
        "",
    ]
    missing = {ref for line in lines for ref in _figure_refs(line)} - set(figures)
    if missing:
        raise ValueError(f"the report refers to figures that were not drawn: {sorted(missing)}")
    return "\n".join(lines)


def _figure_refs(line: str) -> list[str]:
    return [part.split(")")[0] for part in line.split("](figures/")[1:]]

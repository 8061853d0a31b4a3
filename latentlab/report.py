"""The report's text: tables and sentences generated from the measured numbers, never typed."""

from __future__ import annotations

from latentlab.comparison import SUPPORTED, Summary, Verdict
from latentlab.params import ModelParams, Params

METRIC_LABELS = {
    "train_loss": "final train loss per image",
    "test_bce": "test reconstruction BCE per image (mean code)",
    "test_neg_elbo": "test -ELBO per image",
    "test_kl": "test KL per image",
    "test_log_likelihood_iw": "test log-likelihood, importance-weighted",
    "knn_accuracy": "5-NN class accuracy of test codes",
    "codes_in_square": "test codes inside the mapped square",
    "map_classes_present": "classes owning enough map tiles",
    "map_inception_score": "map inception score",
    "map_mean_top_prob": "judge's mean top-class probability on tiles",
    "map_blank_fraction": "blank tiles",
    "map_smoothness_mean": "neighbour tile RMS difference, mean",
    "map_smoothness_p95": "neighbour tile RMS difference, 95th percentile",
}


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    return "\n".join([_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)])


def metrics_table(summaries: dict[str, dict[str, Summary]]) -> str:
    """Rows of metrics, one column per model; a metric a model lacks (KL for an AE) shows as —."""
    models = list(summaries)
    names = [m for m in METRIC_LABELS if any(m in s for s in summaries.values())]
    rows = [
        [METRIC_LABELS[n], *(str(summaries[m][n]) if n in summaries[m] else "—" for m in models)]
        for n in names
    ]
    return table(["metric", *models], rows)


def claims_table(verdicts: list[Verdict], vae: str, ae: str) -> str:
    """One row per claim: the measured values, in how many seeds it holds, and the verdict."""
    rows = [
        [
            v.claim.text,
            f"`{v.claim.metric}`",
            str(v.vae),
            str(v.ae),
            f"{sum(v.holds)}/{len(v.holds)}",
            f"**{v.verdict}**",
        ]
        for v in verdicts
    ]
    return table(["claim", "metric", vae, ae, "holds in seeds", "verdict"], rows)


def findings(verdicts_by_ae: dict[str, list[Verdict]], vae: str) -> list[str]:
    """Sentences stating each claim's outcome against every autoencoder, from the verdicts alone."""
    sentences = []
    first = next(iter(verdicts_by_ae.values()))
    for i, verdict in enumerate(first):
        claim = verdict.claim
        parts = []
        for ae, verdicts in verdicts_by_ae.items():
            v = verdicts[i]
            diff = v.vae.mean - v.ae.mean
            direction = "higher" if diff > 0 else "lower" if diff < 0 else "the same"
            parts.append(
                f"against `{ae}` {v.verdict} ({vae} {v.vae} vs {v.ae}, {direction} for {vae}; "
                f"holds in {sum(v.holds)} of {len(v.holds)} seeds)"
            )
        outcome = {verdicts[i].verdict == SUPPORTED for verdicts in verdicts_by_ae.values()}
        if len(verdicts_by_ae) > 1 and outcome == {True, False}:
            parts.append("so capacity, not only the VAE objective, decides it")
        elif len(verdicts_by_ae) > 1 and outcome == {True}:
            parts.append("so it holds whatever the autoencoder's capacity")
        sentences.append(f"- {claim.text} (`{claim.metric}`): " + "; ".join(parts) + ".")
    return sentences


def params_table(models: list[ModelParams], p: Params) -> str:
    """The params each model was trained with."""
    rows = [
        [
            m.name,
            m.kind,
            str(m.latent_dim),
            str(m.hidden),
            str(m.epochs),
            str(m.batch_size),
            f"{m.lr:g}",
        ]
        for m in models
    ]
    body = table(["model", "kind", "latent_dim", "hidden", "epochs", "batch_size", "lr"], rows)
    data = "all" if p.limit == 0 else f"the first {p.limit}"
    lm = p.latent_map
    return (
        f"{body}\n\nSeeds {p.seeds}; {data} images of each split; device `{p.device}`; "
        f"map {lm.grid} x {lm.grid} over [-{lm.range:g}, {lm.range:g}]^2."
    )

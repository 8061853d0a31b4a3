"""The AE vs VAE comparison: metrics over seeds, and the write-up's claims tested against them."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

# metrics[model][seed] -> {metric name: value}
Metrics = dict[str, dict[int, dict[str, float]]]


@dataclass(frozen=True)
class Claim:
    """A claim of the lab's write-up, as a metric on which the VAE should beat an autoencoder."""

    text: str
    metric: str
    vae_higher: bool  # which way the VAE's value must differ for the claim to hold


CLAIMS = (
    Claim("More kinds of item appear in the VAE map", "map_classes_present", vae_higher=True),
    Claim("More kinds of item appear in the VAE map", "map_inception_score", vae_higher=True),
    Claim("The VAE map has fewer blank tiles", "map_blank_fraction", vae_higher=False),
    Claim("Transitions are smoother in the VAE map", "map_smoothness_mean", vae_higher=False),
    Claim("Transitions are smoother in the VAE map", "map_smoothness_p95", vae_higher=False),
    Claim(
        "VAE codes stay in the prior's region, the AE's spread beyond it",
        "codes_in_square",
        vae_higher=True,
    ),
    Claim("The AE reconstructs better (lower test BCE)", "test_bce", vae_higher=True),
)

SUPPORTED, MIXED, NOT_SUPPORTED = "supported", "mixed", "not supported"


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation of a metric over seeds (std 0 for one seed)."""

    mean: float
    std: float
    values: list[float]

    def __str__(self) -> str:
        return f"{self.mean:.4g} ± {self.std:.2g}" if len(self.values) > 1 else f"{self.mean:.4g}"


def summarise(values: list[float]) -> Summary:
    """Mean and standard deviation of per-seed values."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return Summary(statistics.fmean(values), std, list(values))


def summarise_model(per_seed: dict[int, dict[str, float]]) -> dict[str, Summary]:
    """Every numeric metric that all seeds of one model report, summarised over the seeds."""
    seeds = sorted(per_seed)
    names = [k for k, v in per_seed[seeds[0]].items() if isinstance(v, (int, float))]
    return {
        name: summarise([float(per_seed[s][name]) for s in seeds])
        for name in names
        if all(name in per_seed[s] for s in seeds)
    }


@dataclass(frozen=True)
class Verdict:
    """One claim measured on a VAE and an autoencoder over the same seeds."""

    claim: Claim
    vae: Summary
    ae: Summary
    holds: list[bool]  # per seed, VAE seed i against AE seed i

    @property
    def verdict(self) -> str:
        """`supported` only when the claim holds for every seed."""
        if all(self.holds):
            return SUPPORTED
        return MIXED if any(self.holds) else NOT_SUPPORTED


def judge_claims(metrics: Metrics, vae: str, ae: str) -> list[Verdict]:
    """Each claim, VAE model `vae` against autoencoder `ae`, compared seed by seed."""
    seeds = sorted(set(metrics[vae]) & set(metrics[ae]))
    verdicts = []
    for claim in CLAIMS:
        v = [float(metrics[vae][s][claim.metric]) for s in seeds]
        a = [float(metrics[ae][s][claim.metric]) for s in seeds]
        holds = [(x > y) if claim.vae_higher else (x < y) for x, y in zip(v, a, strict=True)]
        verdicts.append(Verdict(claim, summarise(v), summarise(a), holds))
    return verdicts

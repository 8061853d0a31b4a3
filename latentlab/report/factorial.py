"""The mechanisms' factorial: which of the write-up's two mechanisms makes the VAE's map differ.

The write-up names two: the VAE encodes each image as a distribution (its log-sigma head), and a
prior term pulls its codes towards N(0, I) (its KL term). Four compared models that share their
hidden layers and training make a 2 x 2 design, each cell found from its params, never its name:

|                                  | no prior term       | a prior term            |
|----------------------------------|---------------------|-------------------------|
| points (a deterministic encoder) | kind ae             | kind wae, mmd_weight > 0 |
| distributions (a learned sigma)  | kind vae, beta 0    | kind vae, beta > 0      |

Per seed (seed i of every model together) and claim measure, in the measure's better direction,
with y the value of a cell (the 2^2 design's usual effects, Box, Hunter & Hunter, 2005, ch. 5):

- distributions: (y[distributions] - y[points]) averaged over the two prior levels;
- prior term: (y[prior term] - y[none]) averaged over the two encoders;
- interaction: half the difference between the prior term's effect with distributions and its
  effect with points. The VAE's gain over the points-without-prior cell is the sum of the two
  main effects, and also the sum of what each mechanism gains alone over that cell plus twice
  the interaction, so a positive interaction says that together the mechanisms gain more than
  the sum of what each gains alone, a negative one less.

Every effect is a contrast of the four models, decided as the verdicts are
(comparison.contrast_verdict): beyond the judges' spread of the per-judge effect, or the standard
error over paths for evenness, on every seed; "not decided" when leaving out one judge changes
that, with too few seeds or judges, or where the instrument is too weak (report/instruments.py).
The interaction is decided in both directions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from latentlab.core.params import ModelParams, Params
from latentlab.report.comparison import (
    CLAIMS,
    MIXED,
    NOT_DECIDED,
    NOT_SUPPORTED,
    SUPPORTED,
    Claim,
    ClaimVerdict,
    ContrastVerdict,
    claim_verdict,
    contrast_verdict,
)

# The effects, in the order the report shows them. "advantage" is the VAE against the
# points-without-prior cell (the comparison with the capacity-matched autoencoder); "more" and
# "less" are the interaction's two directions.
ADVANTAGE, DISTRIBUTIONS, PRIOR, MORE, LESS = "advantage", "distributions", "prior", "more", "less"
EFFECTS = (ADVANTAGE, DISTRIBUTIONS, PRIOR, MORE, LESS)
# What the interaction's two one-sided verdicts say, when one of them holds.
TOGETHER_MORE, TOGETHER_LESS = "more than the sum", "less than the sum"


@dataclass(frozen=True)
class Cells:
    """The four models of the 2 x 2 design, by the mechanisms each has."""

    points: str  # a deterministic encoder, no prior term
    points_prior: str  # a deterministic encoder pulled towards the prior (the WAE)
    distributions: str  # a learned sigma, no prior term (the VAE with beta 0)
    distributions_prior: str  # a learned sigma and the KL term (the VAE)

    def in_rows(self) -> list[str]:
        """The models row by row: points then distributions, each without then with the prior."""
        return [self.points, self.points_prior, self.distributions, self.distributions_prior]


def prior_weight(mp: ModelParams) -> tuple[str, float] | None:
    """The key and value of the weight of a model's prior term (a VAE's beta, a WAE's
    mmd_weight); None for an AE, which has no prior term."""
    if mp.kind == "vae":
        return "beta", mp.beta
    if mp.kind == "wae":
        return "mmd_weight", mp.mmd_weight
    return None


def cell_of(mp: ModelParams) -> tuple[bool, bool]:
    """Whether a model encodes distributions, and whether its prior term is on (weighted > 0)."""
    weight = prior_weight(mp)
    return mp.kind == "vae", weight is not None and weight[1] > 0


def design_cells(p: Params) -> Cells | None:
    """The first complete 2 x 2 design among the compared models, or None when there is none.

    Models are in one design when they share everything the design does not vary: the code, the
    hidden layers, epochs, batch size and learning rate. A cell two compared models could fill
    takes the first of them in `report.models`.
    """
    groups: dict[tuple, dict[tuple[bool, bool], str]] = {}
    for mp in p.compared:
        shared = (mp.latent_dim, tuple(mp.hidden), mp.epochs, mp.batch_size, mp.lr)
        groups.setdefault(shared, {}).setdefault(cell_of(mp), mp.name)
    for cells in groups.values():
        if len(cells) == 4:
            return Cells(
                points=cells[False, False],
                points_prior=cells[False, True],
                distributions=cells[True, False],
                distributions_prior=cells[True, True],
            )
    return None


def contrasts(cells: Cells) -> dict[str, dict[str, float]]:
    """Each effect's weights on the four models (see the module's docstring)."""
    c, h = cells, 0.5
    interaction = {c.distributions_prior: h, c.points: h, c.distributions: -h, c.points_prior: -h}
    return {
        ADVANTAGE: {c.distributions_prior: 1.0, c.points: -1.0},
        DISTRIBUTIONS: {
            c.distributions_prior: h,
            c.distributions: h,
            c.points_prior: -h,
            c.points: -h,
        },
        PRIOR: {c.distributions_prior: h, c.points_prior: h, c.distributions: -h, c.points: -h},
        MORE: interaction,
        LESS: {m: -w for m, w in interaction.items()},
    }


@dataclass(frozen=True)
class Factorial:
    """Every claim measure's effects: effects[effect][metric], the claims' measures in order."""

    cells: Cells
    effects: dict[str, dict[str, ContrastVerdict]]

    def claim(self, claim: Claim) -> dict[str, ClaimVerdict]:
        """Per effect, the claim's verdict over its measures (comparison.claim_verdict)."""
        return {
            effect: claim_verdict([by_metric[m] for m in claim.measures])
            for effect, by_metric in self.effects.items()
        }


def factorial(
    cells: Cells,
    table: pd.DataFrame,
    items: pd.DataFrame,
    weak: Mapping[str, Sequence[str]] | None = None,
) -> Factorial:
    """The effects of the design `cells` on every claim measure, from the long table of
    results.gather and the per-item table of results.gather_items (over the lab's square);
    `weak`: metric -> why its instrument is too weak (instruments.too_weak), which leaves that
    measure's effects not decided."""
    weak = weak or {}
    weights = contrasts(cells)
    return Factorial(
        cells,
        {
            effect: {
                metric: contrast_verdict(
                    table, metric, w, items=items, too_weak=weak.get(metric, ())
                )
                for claim in CLAIMS
                for metric in claim.measures
            }
            for effect, w in weights.items()
        },
    )


def interaction_verdict(more: str, less: str) -> str:
    """One verdict of the interaction from its two one-sided ones: which direction holds, else
    not decided, mixed or not supported (in that order: an undecided side decides nothing)."""
    if more == SUPPORTED:
        return TOGETHER_MORE
    if less == SUPPORTED:
        return TOGETHER_LESS
    for verdict in (NOT_DECIDED, MIXED):
        if verdict in (more, less):
            return verdict
    return NOT_SUPPORTED


# What carries the VAE's advantage on a claim, the patterns `pattern` tells apart.
NO_ADVANTAGE = "no advantage"  # the VAE does not beat the points-without-prior cell
TOGETHER = "both together"  # the mechanisms gain more together than the sum of each alone
EITHER = "either (overlapping)"  # both help, and together less than the sum: they overlap
BOTH = "both (adding up)"  # both help, and their gains add up
DISTRIBUTIONS_ALONE = "distributions alone"
PRIOR_ALONE = "prior term alone"
NEITHER = "neither"
UNDECIDED = NOT_DECIDED  # an effect the pattern turns on is not decided
PATTERNS = (
    NO_ADVANTAGE,
    TOGETHER,
    EITHER,
    BOTH,
    DISTRIBUTIONS_ALONE,
    PRIOR_ALONE,
    NEITHER,
    UNDECIDED,
)


def pattern(verdicts: dict[str, str]) -> str:
    """Which mechanism carries the VAE's advantage, from the verdicts of the EFFECTS (plain
    verdict strings, as ClaimVerdict.verdict): one of PATTERNS. An effect that is not decided
    decides nothing: where the pattern turns on it, the pattern is UNDECIDED."""
    if verdicts[ADVANTAGE] == NOT_DECIDED:
        return UNDECIDED
    if verdicts[ADVANTAGE] != SUPPORTED:
        return NO_ADVANTAGE
    if verdicts[MORE] == SUPPORTED:
        return TOGETHER
    if NOT_DECIDED in (verdicts[MORE], verdicts[DISTRIBUTIONS], verdicts[PRIOR]):
        return UNDECIDED
    distributions, prior = verdicts[DISTRIBUTIONS] == SUPPORTED, verdicts[PRIOR] == SUPPORTED
    if distributions and prior:
        if verdicts[LESS] == NOT_DECIDED:
            return UNDECIDED
        return EITHER if verdicts[LESS] == SUPPORTED else BOTH
    if distributions:
        return DISTRIBUTIONS_ALONE
    return PRIOR_ALONE if prior else NEITHER


def mechanism_record(fact: Factorial) -> dict[str, str]:
    """Per claim key, the pattern of its effects: what reports/verdicts.json holds as the
    factorial's finding (comparison.verdict_record)."""
    return {
        claim.key: pattern({e: v.verdict for e, v in fact.claim(claim).items()}) for claim in CLAIMS
    }

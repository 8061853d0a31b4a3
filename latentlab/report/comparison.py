"""The lab write-up's claims, each tested by the measures that can test it, VAE against each AE.

A claim holds on a seed when the VAE beats the autoencoder there (seed i against seed i) in the
measure's better direction by more than the measurement's own noise: for a measure every judge
takes, the standard deviation over judges of the per-judge difference, so that a difference one
judge's noise could make does not count; for a mean over paths (evenness), the standard error of
the path-by-path difference (both models are measured on the same paths), so that a difference
smaller than another draw of paths would typically make does not count; for any other measure
(the share of test codes in the square, counted exactly), any difference. A measure is
**supported** when the claim holds on every seed, **not supported** when on none, **mixed**
otherwise. It is **not decided**, with the reason said beside it, when dropping any one judge
changes that verdict (a verdict that depends on which classifiers did the measuring is a verdict
about the classifiers), when there are fewer than MIN_SEEDS seeds or, for a judge-based measure,
fewer than MIN_JUDGES judges, or when its instrument is too weak (report/instruments.py). A
claim's verdict is what its decided measures agree on, with the number of measures left
undecided said beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce

import numpy as np
import pandas as pd

from latentlab.analysis.metrics import BY_NAME, HIGHER
from latentlab.core.params import FACTORIAL_ENTRY, Params
from latentlab.report.results import seed_values, square_of

SUPPORTED, MIXED, NOT_SUPPORTED, NOT_DECIDED = "supported", "mixed", "not supported", "not decided"

# The least a verdict needs, from what the rules ask of the data: "on every seed" says nothing
# about another seed's training with one seed alone; a judge-based verdict needs the judges'
# spread (two judges) and the same spread with any one judge left out (three).
MIN_SEEDS = 2
MIN_JUDGES = 3
# A verdict of "supported" wins on every one of n seeds: a one-sided sign test gives it p = 0.5^n,
# weak evidence on its own above this conventional level.
SIGN_TEST_LEVEL = 0.05


@dataclass(frozen=True)
class Claim:
    """A claim of the lab's write-up and the measures that test it."""

    key: str
    text: str
    measures: tuple[str, ...]


CLAIMS = (
    Claim(
        "kinds",
        "More kinds of item appear in the VAE map",
        ("coverage", "classes_present", "inception_score"),
    ),
    Claim(
        "smooth",
        "Transitions between items are smoother in the VAE's latent space",
        ("path_evenness", "path_middle_precision"),
    ),
    Claim(
        "realistic", "The VAE map has fewer unrealistic regions", ("precision", "frechet_distance")
    ),
)
# The mechanism the write-up names (the KL term keeps codes near the prior) is measured too.
MECHANISM = "codes_in_square"


@dataclass(frozen=True)
class ContrastVerdict:
    """One measure's verdict on a contrast of models, seed by seed: the sum of each model's value
    times its weight (weights summing to 0; {vae: 1, ae: -1} is the VAE's gain over the AE),
    counted in the measure's better direction, held to the noise rules of the module's
    docstring."""

    metric: str
    weights: dict[str, float]
    gains: list[float]  # per seed: the contrast in the better direction (mean over judges)
    spreads: list[float]  # per seed: the noise the gain must exceed (see the module's docstring)
    holds: list[bool]
    verdict: str
    judges: int
    reasons: tuple[str, ...] = ()  # why it is not decided, when it is not

    @property
    def short_reason(self) -> str:
        """Why it is not decided, each reason in its short form ("" when it is decided)."""
        return "; ".join(dict.fromkeys(r.partition(":")[0] for r in self.reasons))


@dataclass(frozen=True)
class MeasureVerdict:
    """One measure of a claim, VAE `vae` against autoencoder `ae`, seed by seed."""

    metric: str
    vae: str
    ae: str
    gains: list[float]  # per seed: how much better the VAE is (mean over judges)
    spreads: list[float]  # per seed: the noise the gain must exceed (see the module's docstring)
    holds: list[bool]
    verdict: str
    judges: int
    reasons: tuple[str, ...] = ()  # why it is not decided, when it is not

    @property
    def short_reason(self) -> str:
        """Why it is not decided, each reason in its short form ("" when it is decided)."""
        return "; ".join(dict.fromkeys(r.partition(":")[0] for r in self.reasons))

    @property
    def supported_on(self) -> str:
        """'k of n' seeds on which the claim holds."""
        return f"{sum(self.holds)} of {len(self.holds)}"


def _verdict(holds: list[bool]) -> str:
    if all(holds):
        return SUPPORTED
    return MIXED if any(holds) else NOT_SUPPORTED


def _common_seeds(frames: list[pd.DataFrame]) -> pd.Index:
    return reduce(pd.Index.intersection, (f.index for f in frames))


def _gains(
    frames: list[pd.DataFrame], weights: list[float], metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per common seed: the mean over judges of the contrast in the better direction, and the
    judges' spread of it."""
    seeds = _common_seeds(frames)
    total = sum(w * f.loc[seeds].to_numpy() for f, w in zip(frames, weights, strict=True))
    gain = total if BY_NAME[metric].better == HIGHER else -total
    if not BY_NAME[metric].per_judge:  # counted exactly: no noise
        spread = np.zeros(len(seeds))
    elif gain.shape[1] > 1:
        spread = gain.std(axis=1, ddof=1)
    else:  # one judge has no spread: its noise is unknown (NaN, which no gain exceeds), not 0
        spread = np.full(len(seeds), np.nan)
    return gain.mean(axis=1), spread


def item_noise(items: pd.DataFrame, metric: str, weights: dict[str, float]) -> pd.Series:
    """Per seed every model of the contrast `weights` has: the standard error of the mean of the
    item-by-item contrast of a per-item measure (`items` as results.gather_items gives it)."""
    rows = items[items.metric == metric]
    by_model = [
        rows[rows.model == m].pivot(index="seed", columns="item", values="value") for m in weights
    ]
    seeds = _common_seeds(by_model)
    diff = sum(w * f.loc[seeds] for f, w in zip(by_model, weights.values(), strict=True))
    if diff.isna().to_numpy().any() or diff.shape[1] < 2:
        raise ValueError(
            f"{metric}: {' and '.join(weights)} do not hold the same two or more items"
        )
    return diff.std(axis=1, ddof=1) / np.sqrt(diff.shape[1])


def contrast_verdict(
    table: pd.DataFrame,
    metric: str,
    weights: dict[str, float],
    square: str | None = None,
    items: pd.DataFrame | None = None,
    too_weak: Sequence[str] = (),
) -> ContrastVerdict:
    """The verdict of one measure on the contrast `weights` (model -> weight), with the
    leave-one-judge-out check for judge-based ones; a map's measure is decided over `square` (the
    lab's by default, or "own": each model's own). A per-item measure needs `items`
    (results.gather_items) for its noise. `too_weak`, when given, says why the measure's
    instrument cannot decide (instruments.too_weak): the verdict is then not decided."""
    square = square_of(metric) if square is None or not square_of(metric) else square
    frames = [seed_values(table, m, metric, square) for m in weights]
    factors = list(weights.values())
    seeds = _common_seeds(frames)
    if seeds.empty:
        raise ValueError(f"{metric}: {' and '.join(weights)} have no seed in common")
    gains, spreads = _gains(frames, factors, metric)
    if BY_NAME[metric].per_item:
        if items is None:
            raise ValueError(f"{metric} is a mean over items: its verdict needs their values")
        spreads = item_noise(items, metric, weights).reindex(seeds).to_numpy()
        if np.isnan(spreads).any():
            raise ValueError(f"{metric}: the per-item values miss a seed of {' or '.join(weights)}")
    holds = [bool(g > s) for g, s in zip(gains, spreads, strict=True)]
    verdict = _verdict(holds)
    judges = frames[0].shape[1] if BY_NAME[metric].per_judge else 0
    reasons = _too_few(len(seeds), judges, metric, too_weak)
    if not reasons and judges > 1:
        for left_out in frames[0].columns:
            g, s = _gains([f.drop(columns=left_out) for f in frames], factors, metric)
            if _verdict([bool(x > y) for x, y in zip(g, s, strict=True)]) != verdict:
                reasons = (LEFT_OUT,)
                break
    return ContrastVerdict(
        metric,
        dict(weights),
        list(gains),
        list(spreads),
        holds,
        NOT_DECIDED if reasons else verdict,
        judges,
        reasons,
    )


# Each reason starts with its short form, up to the colon (what a table's cell says).
LEFT_OUT = "one judge decides it: leaving it out changes the verdict"


def _too_few(seeds: int, judges: int, metric: str, too_weak: Sequence[str]) -> tuple[str, ...]:
    """Why a measure cannot be decided, whatever its gains: a weak instrument, too few seeds,
    or for a judge-based measure too few judges (MIN_SEEDS, MIN_JUDGES)."""
    reasons = [f"instruments too weak: {r}" for r in too_weak]
    if seeds < MIN_SEEDS:
        reasons.append(f"too few seeds: {seeds}, and a verdict needs {MIN_SEEDS} or more")
    if BY_NAME[metric].per_judge and judges < MIN_JUDGES:
        reasons.append(
            f"too few judges: {judges}, and a judge-based verdict needs {MIN_JUDGES} or more"
        )
    return tuple(reasons)


def measure_verdict(
    table: pd.DataFrame,
    metric: str,
    vae: str,
    ae: str,
    square: str | None = None,
    items: pd.DataFrame | None = None,
    too_weak: Sequence[str] = (),
) -> MeasureVerdict:
    """The verdict of one measure, the VAE `vae` against the autoencoder `ae` (the contrast
    {vae: 1, ae: -1} of contrast_verdict, which says how the square, `items` and `too_weak` are
    used)."""
    c = contrast_verdict(table, metric, {vae: 1.0, ae: -1.0}, square, items, too_weak)
    return MeasureVerdict(
        metric, vae, ae, c.gains, c.spreads, c.holds, c.verdict, c.judges, c.reasons
    )


@dataclass(frozen=True)
class ClaimVerdict:
    """A claim's verdict from its measures: the verdict its decided measures agree on (mixed
    when they disagree, not decided when none is decided), and how many were not decided."""

    verdict: str
    undecided: int
    measures: int

    @property
    def full(self) -> bool:
        """Every measure decided, and all agree."""
        return self.undecided == 0 and self.verdict != MIXED

    @property
    def note(self) -> str:
        """How many measures were left undecided, when some were and others decided."""
        if self.undecided == 0 or self.verdict == NOT_DECIDED:
            return ""
        return f"{self.undecided} of {self.measures} measures not decided"

    def __str__(self) -> str:
        return f"{self.verdict} ({self.note})" if self.note else self.verdict


def claim_verdict(measures: Sequence[MeasureVerdict | ContrastVerdict]) -> ClaimVerdict:
    """Combine a claim's measures (see ClaimVerdict)."""
    decided = {m.verdict for m in measures if m.verdict != NOT_DECIDED}
    undecided = sum(m.verdict == NOT_DECIDED for m in measures)
    if not decided:
        return ClaimVerdict(NOT_DECIDED, undecided, len(measures))
    verdict = decided.pop() if len(decided) == 1 else MIXED
    return ClaimVerdict(verdict, undecided, len(measures))


@dataclass(frozen=True)
class ClaimResult:
    """A claim tested against every autoencoder: per autoencoder its measures and verdict over
    the lab's square and, for a claim about the map, over each model's own square."""

    claim: Claim
    measures: dict[str, list[MeasureVerdict]]
    verdicts: dict[str, ClaimVerdict]
    own_measures: dict[str, list[MeasureVerdict]]
    own_verdicts: dict[str, ClaimVerdict]

    @property
    def about_the_map(self) -> bool:
        """Whether the claim is measured on the map (so it has an own-square verdict)."""
        return bool(self.own_verdicts)


def vaes_and_aes(p: Params) -> tuple[list[str], list[str]]:
    """The VAEs and the autoencoders among the compared models, in `report.models`' order.

    The write-up's VAE is trained with its KL term: a VAE with beta 0 is a cell of the
    mechanisms' factorial (report/factorial.py), not a VAE the claims are about, and a WAE is
    neither a VAE nor the lab's autoencoder.
    """
    return (
        [m.name for m in p.compared if m.kind == "vae" and m.beta > 0],
        [m.name for m in p.compared if m.kind == "ae"],
    )


def claim_results(
    table: pd.DataFrame,
    vae: str,
    aes: list[str],
    items: pd.DataFrame | None = None,
    weak: Mapping[str, Sequence[str]] | None = None,
) -> list[ClaimResult]:
    """Every claim, the VAE `vae` against each autoencoder in `aes` (`items`: the per-item
    values of the measures that are means over items; `weak`: metric -> why its instrument is
    too weak, see measure_verdict)."""
    weak = weak or {}
    results = []
    for claim in CLAIMS:
        on_map = all(square_of(m) for m in claim.measures)
        measures, own = {}, {}
        for ae in aes:
            measures[ae] = [
                measure_verdict(table, m, vae, ae, None, items, weak.get(m, ()))
                for m in claim.measures
            ]
            if on_map:
                own[ae] = [
                    measure_verdict(table, m, vae, ae, "own", items, weak.get(m, ()))
                    for m in claim.measures
                ]
        results.append(
            ClaimResult(
                claim,
                measures,
                {ae: claim_verdict(ms) for ae, ms in measures.items()},
                own,
                {ae: claim_verdict(ms) for ae, ms in own.items()},
            )
        )
    return results


def claim_results_by_vae(
    p: Params,
    table: pd.DataFrame,
    items: pd.DataFrame,
    weak: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, list[ClaimResult]]:
    """Every compared VAE against every compared autoencoder (`weak` as claim_results takes it);
    empty when either kind is missing (the report then has no comparison)."""
    vaes, aes = vaes_and_aes(p)
    return {vae: claim_results(table, vae, aes, items, weak) for vae in vaes} if aes else {}


MECHANISM_KEY = FACTORIAL_ENTRY  # reports/verdicts.json's entry for the factorial's findings


def verdict_record(
    verdicts: dict[str, list[ClaimResult]], mechanisms: dict[str, str] | None = None
) -> dict[str, dict]:
    """Each claim's verdict as reports/verdicts.json holds it, a DVC metric that `dvc exp show`
    and `make compare` display: {vae: {ae: {claim key: verdict}}}, and `<key>_own` for a claim
    about the map judged over each model's own square (`claim_results_by_vae`'s result in; the
    verdict word alone, without the count of undecided measures the report gives beside it).
    `mechanisms` (claim key -> what carries the VAE's advantage, factorial.mechanism_record)
    goes in as {"mechanism": {claim key: pattern}}."""
    if MECHANISM_KEY in verdicts:
        raise ValueError(f"a VAE named {MECHANISM_KEY!r} would hide the factorial's entry")
    record: dict[str, dict] = {}
    for vae, results in verdicts.items():
        for result in results:
            for ae, verdict in result.verdicts.items():
                record.setdefault(vae, {}).setdefault(ae, {})[result.claim.key] = verdict.verdict
            for ae, verdict in result.own_verdicts.items():
                record[vae][ae][f"{result.claim.key}_own"] = verdict.verdict
    if mechanisms:
        record[MECHANISM_KEY] = dict(mechanisms)
    return record

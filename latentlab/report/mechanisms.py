"""The report's pieces on the mechanisms (latentlab/report/factorial.py): the generated "Why",
the effects table, the diagnostics table and the 2 x 2 maps. Every number comes from the summary
table or the factorial, every choice of words from a verdict or from comparing measured values.
"""

from __future__ import annotations

import math

import pandas as pd

from latentlab.analysis.codes import PRIOR_BAND
from latentlab.core.params import Params
from latentlab.report.comparison import (
    CLAIMS,
    NOT_DECIDED,
    Claim,
    ClaimVerdict,
    ContrastVerdict,
    square_of,
)
from latentlab.report.factorial import (
    ADVANTAGE,
    BOTH,
    DISTRIBUTIONS,
    DISTRIBUTIONS_ALONE,
    EITHER,
    LESS,
    MORE,
    NEITHER,
    NO_ADVANTAGE,
    PRIOR,
    PRIOR_ALONE,
    TOGETHER,
    UNDECIDED,
    Cells,
    Factorial,
    cell_of,
    interaction_verdict,
    pattern,
    prior_weight,
)
from latentlab.report.labels import label
from latentlab.report.results import Numbers

DIAGNOSTICS = (
    "posterior_sigma",
    "spread_to_sigma",
    "code_eigenvalue_largest",
    "code_eigenvalue_smallest",
    "codes_in_square",
)
CELL_NAMES = {
    (False, False): "points, no prior term",
    (False, True): "points, a prior term",
    (True, False): "distributions, no prior term",
    (True, True): "distributions, a prior term",
}


def _number(value: float) -> str:
    """Three significant digits, without an exponent for values of 1000 or more."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _cell(n: Numbers, model: str, metric: str) -> str:
    """mean ± the seeds' standard deviation, three digits; "—" where the model has no such
    metric."""
    if not n.has(model, metric):
        return "—"
    row = n.table.loc[(model, square_of(metric), metric)]
    seeds = f" ± {row['std_seeds']:.2g}" if row["seeds"] > 1 else ""
    return _number(row["mean"]) + seeds


def _words(verdict: ClaimVerdict) -> str:
    """A claim's verdict with its note, without brackets: "mixed, 1 of 2 measures not decided"."""
    return f"{verdict.verdict}, {verdict.note}" if verdict.note else verdict.verdict


def _effect_text(verdicts: dict[str, ClaimVerdict]) -> str:
    return (
        f"distributions: {_words(verdicts[DISTRIBUTIONS])}; prior term: "
        f"{_words(verdicts[PRIOR])}; interaction: "
        f"{interaction_verdict(verdicts[MORE].verdict, verdicts[LESS].verdict)}"
    )


def claim_why(claim: Claim, verdicts: dict[str, ClaimVerdict], cells: Cells) -> str:
    """One claim's sentence of the Why: which mechanism carries the VAE's advantage over the
    points-without-prior cell (factorial.pattern of the claim's effect verdicts), and the
    verdicts it rests on."""
    c = cells
    kind = pattern({effect: v.verdict for effect, v in verdicts.items()})
    text = {
        NO_ADVANTAGE: f"`{c.distributions_prior}` has no consistent advantage over `{c.points}` "
        f"(it is {_words(verdicts[ADVANTAGE])}), so there is none for a mechanism to carry",
        TOGETHER: f"both mechanisms are needed together: `{c.distributions_prior}` gains more "
        f"over `{c.points}` than distributions alone (`{c.distributions}`) and the prior term "
        f"alone (`{c.points_prior}`) gain added up",
        EITHER: "each mechanism carries part of it, and they overlap: together they gain less "
        "than the sum of what each gains alone",
        BOTH: "each mechanism carries part of it, and their gains add up",
        DISTRIBUTIONS_ALONE: "the distributions carry it, not the prior term",
        PRIOR_ALONE: "the prior term carries it, not the distributions",
        NEITHER: f"`{c.distributions_prior}` beats `{c.points}`, but neither mechanism carries "
        f"it on every seed, alone or together",
        UNDECIDED: "the effects that would say which mechanism carries it are not decided",
    }[kind]
    return f"*{claim.text}*: {text} ({_effect_text(verdicts)})."


def sigma_sentence(summary: pd.DataFrame, cells: Cells) -> str:
    """What the distributions cells' diagnostics say: whether the encoder keeps its sigma
    without the prior term, and how many of its sigmas its codes span, with and without."""
    n = Numbers(summary)
    off, on = cells.distributions, cells.distributions_prior
    sigma = {m: n.mean(m, "posterior_sigma") for m in (off, on)}
    spans = {m: n.mean(m, "spread_to_sigma") for m in (off, on)}
    margin = math.hypot(n.spread(off, "posterior_sigma"), n.spread(on, "posterior_sigma"))
    if sigma[off] < sigma[on] - margin:
        verb = "narrows its distributions"
        narrower = spans[off] / spans[on]
        closing = (
            f": measured against the spread of its codes, each image's distribution is "
            f"{_number(narrower)} times narrower than `{on}`'s"
        )
    elif sigma[off] > sigma[on] + margin:
        verb, closing = "widens its distributions", ""
    else:
        verb, closing = "keeps its distributions about as wide (within the seeds' spread)", ""
    return (
        f"Without its prior term the VAE's encoder {verb}: `{off}`'s mean posterior sigma is "
        f"{_number(sigma[off])} against `{on}`'s {_number(sigma[on])}, and its test codes span "
        f"{_number(spans[off])} of its sigmas against {_number(spans[on])}{closing}."
    )


def eigenvalue_sentence(summary: pd.DataFrame, cells: Cells) -> str:
    """Which cells' test codes have a covariance like the prior's: both eigenvalues in
    PRIOR_BAND (the band of the MMD weight's rule), from the means over seeds."""
    n = Numbers(summary)
    low, high = PRIOR_BAND
    values = {
        m: (n.mean(m, "code_eigenvalue_largest"), n.mean(m, "code_eigenvalue_smallest"))
        for m in cells.in_rows()
    }
    inside = [m for m, (big, small) in values.items() if low <= small and big <= high]
    outside = [m for m in values if m not in inside]
    text = (
        f"Both eigenvalues of the test codes' covariance (the prior's are 1) lie within "
        f"[{low:g}, {high:g}] for "
        + (", ".join(f"`{m}`" for m in inside) if inside else "none of the four cells")
    )
    if outside:
        text += ", not for " + ", ".join(
            f"`{m}` ({_number(values[m][0])} and {_number(values[m][1])})" for m in outside
        )
    return text + "."


def why(fact: Factorial, summary: pd.DataFrame) -> list[str]:
    """The Why as short Markdown paragraphs: per claim, which mechanism carries the VAE's
    advantage, then what the diagnostics say about the cells."""
    c = fact.cells
    return [
        f"**Why, mechanism by mechanism.** Per claim, what carries `{c.distributions_prior}`'s "
        f"advantage over `{c.points}` in the 2 x 2 design of the two mechanisms (below):",
        *(f"- {claim_why(claim, fact.claim(claim), c)}" for claim in CLAIMS),
        sigma_sentence(summary, c),
        eigenvalue_sentence(summary, c),
    ]


def _with_reason(verdict: str, *effects: ContrastVerdict) -> str:
    """A verdict, and when it is not decided the short reasons of the effects it came from."""
    why = "; ".join(dict.fromkeys(e.short_reason for e in effects if e.reasons))
    return f"{verdict} ({why})" if verdict == NOT_DECIDED and why else verdict


def effects_table(fact: Factorial, p: Params) -> str:
    """A Markdown table, one row per claim measure: per effect its mean over seeds (in the
    measure's better direction) and its verdict, with the short reason of one not decided; the
    interaction's verdict says which way it holds (factorial.interaction_verdict)."""
    c = fact.cells
    rows = []
    for claim in CLAIMS:
        for i, metric in enumerate(claim.measures):
            effect = {e: fact.effects[e][metric] for e in fact.effects}
            mean = {e: f"{sum(v.gains) / len(v.gains):+.3g}" for e, v in effect.items()}
            cell = {e: f"{mean[e]}: {_with_reason(v.verdict, v)}" for e, v in effect.items()}
            interaction = interaction_verdict(effect[MORE].verdict, effect[LESS].verdict)
            rows.append(
                {
                    "claim": claim.text if i == 0 else "",
                    "measure": label(metric, p),
                    f"`{c.distributions_prior}` against `{c.points}`": cell[ADVANTAGE],
                    "distributions": cell[DISTRIBUTIONS],
                    "prior term": cell[PRIOR],
                    "interaction": f"{mean[MORE]}: "
                    + _with_reason(interaction, effect[MORE], effect[LESS]),
                }
            )
    return pd.DataFrame(rows).to_markdown(index=False)


def diagnostics_table(summary: pd.DataFrame, p: Params) -> str:
    """A Markdown table, one row per compared model: its cell of the design, the weight of its
    prior term, and the diagnostics (mean ± the seeds' standard deviation)."""
    n = Numbers(summary)
    rows = []
    for mp in p.compared:
        weight = prior_weight(mp)
        rows.append(
            {
                "model": f"`{mp.name}`",
                "encoder, prior": CELL_NAMES[cell_of(mp)],
                "prior term's weight": f"{weight[0]} {weight[1]:g}" if weight else "none",
                **{label(m, p): _cell(n, mp.name, m) for m in DIAGNOSTICS},
            }
        )
    return pd.DataFrame(rows).to_markdown(index=False)


def cell_maps(cells: Cells) -> list[tuple[str, str]]:
    """The four cells' lab maps to draw 2 x 2, as (model, panel title) in row order: points
    then distributions, each without then with the prior term (figures.maps with columns=2)."""
    return [
        (m, f"{m}: {CELL_NAMES[key]}") for m, key in zip(cells.in_rows(), CELL_NAMES, strict=True)
    ]


def design_note(fact: Factorial, p: Params) -> list[str]:
    """How the design is made and its effects decided, and the MMD weight with the rule that
    chose its default: short Markdown paragraphs."""
    c = fact.cells
    wae = p.model(c.points_prior)
    low, high = PRIOR_BAND
    return [
        f"The four models share their hidden layers {wae.hidden} and training: `{c.points}` "
        f"(points, no prior term), `{c.points_prior}` (points pulled towards N(0, I) by an MMD "
        f"penalty, WAE-MMD), `{c.distributions}` (distributions, no prior term) and "
        f"`{c.distributions_prior}` (distributions and the KL term).",
        "Per seed, the effect of distributions is their gain over points averaged over the two "
        "prior levels, that of the prior term its gain averaged over the two encoders, and the "
        "interaction half the difference between the prior term's gain with distributions and "
        "with points (positive: together more than the sum of each alone).",
        f"The WAE's MMD weight is {prior_weight(wae)[1]:g}; its default was chosen once, looking "
        "at no claim measure, by `scripts/choose_mmd_weight.py`: the smallest weight of its grid "
        f"at which both eigenvalues of the training codes' covariance lie within "
        f"[{low:g}, {high:g}].",
    ]

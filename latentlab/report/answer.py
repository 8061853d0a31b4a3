"""The report's first screen and its answer, as short Markdown paragraphs: the verdicts at a
glance, what the instruments allow, what the maps show, which claims hold and why.

Every sentence is chosen by a verdict or by comparing measured values, and every number in it
comes from the results; report.md.j2 places them.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from latentlab.analysis.metrics import BY_NAME, HIGHER
from latentlab.core.params import Params
from latentlab.report import instruments
from latentlab.report.comparison import (
    CLAIMS,
    LEFT_OUT,
    MECHANISM,
    NOT_DECIDED,
    NOT_SUPPORTED,
    SIGN_TEST_LEVEL,
    SUPPORTED,
    ClaimResult,
    ContrastVerdict,
    MeasureVerdict,
    vaes_and_aes,
)
from latentlab.report.factorial import Factorial, mechanism_record
from latentlab.report.results import Numbers, calibration_means

CLAIM_MEASURES = tuple(m for claim in CLAIMS for m in claim.measures)


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def _name(metric: str) -> str:
    return metric.replace("_", " ")


def _list(words: list[str]) -> str:
    """a, b and c."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


# ---------------------------------------------------------------------------------------------
# The first screen


def glance_table(results: dict[str, list[ClaimResult]], fact: Factorial | None) -> str:
    """One row per claim: its verdict word in each comparison (VAE against autoencoder, over the
    lab's square) and, with a complete design, what carries the VAE's advantage."""
    mechanism = mechanism_record(fact) if fact else {}
    rows = []
    for i, claim in enumerate(CLAIMS):
        row = {"claim": claim.text}
        for vae, claims in results.items():
            for ae, verdict in claims[i].verdicts.items():
                row[f"`{vae}` vs `{ae}`"] = verdict.verdict
        if fact:
            row["what carries it (2 x 2 design)"] = mechanism[claim.key]
        rows.append(row)
    return pd.DataFrame(rows).to_markdown(index=False)


def _verdicts(
    results: dict[str, list[ClaimResult]], fact: Factorial | None
) -> Iterable[MeasureVerdict | ContrastVerdict]:
    """Every measure's verdict the report gives: per claim and comparison over both squares, and
    every effect of the factorial."""
    for claims in results.values():
        for r in claims:
            for measures in (*r.measures.values(), *r.own_measures.values()):
                yield from measures
    if fact:
        for by_metric in fact.effects.values():
            yield from by_metric.values()


def standing_reasons(
    results: dict[str, list[ClaimResult]], fact: Factorial | None
) -> dict[str, list[str]]:
    """reason -> the measures it leaves not decided, for the reasons that hold whatever the
    models do (weak instruments, too few seeds or judges; not a judge's flip of one verdict)."""
    found: dict[str, list[str]] = {}
    for v in _verdicts(results, fact):
        for reason in v.reasons:
            if reason != LEFT_OUT and v.metric not in found.setdefault(reason, []):
                found[reason].append(v.metric)
    return found


def instrument_lines(
    accuracy: float,
    calibration: pd.DataFrame,
    results: dict[str, list[ClaimResult]],
    fact: Factorial | None,
) -> list[str]:
    """What the instruments allow, for the first screen: that they pass their floors, or which
    measures cannot be decided and why; and when no claim is decided anywhere, that the run
    proves nothing about the claims."""
    reasons = standing_reasons(results, fact)
    if not reasons:
        judged = [m for m in CLAIM_MEASURES if BY_NAME[m].per_judge]
        ratio = min(
            gap / spread if spread > 0 else float("inf")
            for gap, spread in (
                instruments.separation(calibration, instruments.CALIBRATED_AS.get(m, m))
                for m in judged
            )
        )
        return [
            f"**What the instruments allow.** The judges' mean test accuracy is {accuracy:.2f} "
            f"(the floor: {instruments.JUDGE_ACCURACY_FLOOR:.2f}), and on every judge-based "
            f"claim measure real images lead uniform noise by {ratio:.2g} or more times the "
            f"judges' spread (the floor: {instruments.SEPARATION:g}): the verdicts rest on "
            "instruments that work."
        ]
    lines = [
        "**What the instruments allow.** These measures cannot be decided, whatever the models do:"
    ]
    lines += [
        f"- {_list([_name(m) for m in metrics])}: not decided ({reason})"
        for reason, metrics in reasons.items()
    ]
    decided = [
        v
        for claims in results.values()
        for r in claims
        for v in r.verdicts.values()
        if v.verdict != NOT_DECIDED
    ]
    if results and not decided:
        lines.append(
            "**This run proves nothing about the write-up's claims**: not one of their verdicts "
            "is decided."
        )
    return lines


def sign_test_sentence(seeds: int) -> str:
    """What winning on every one of `seeds` seeds is worth by itself: the exact one-sided
    sign-test p, called weak above SIGN_TEST_LEVEL."""
    p = 0.5**seeds
    plural = "seed" if seeds == 1 else "seeds"
    strength = (
        f"weak evidence on its own (above {SIGN_TEST_LEVEL:g})"
        if p > SIGN_TEST_LEVEL
        else f"below {SIGN_TEST_LEVEL:g} on its own"
    )
    return (
        f"With {seeds} {plural}, winning on every seed has a one-sided sign-test p of "
        f"{p:.3g} (0.5^{seeds}): {strength}; the noise floor is what keeps a small win from "
        "counting."
    )


# ---------------------------------------------------------------------------------------------
# The answer


def kinds_of_item(table: pd.DataFrame, model: str) -> str:
    """How many kinds of item (classes present) the model's lab map shows, as whole numbers:
    the fewest to the most any judge counts on any seed."""
    rows = table[
        (table.model == model) & (table.square == "lab") & (table.metric == "classes_present")
    ]
    low, high = int(rows.value.min()), int(rows.value.max())
    counted = f"{low}" if low == high else f"{low} to {high}"
    return f"{counted} kind{'' if counted == '1' else 's'} of item"


def maps_show(numbers: Numbers, table: pd.DataFrame, p: Params) -> list[str]:
    """What each map shows over the lab's square: its coverage and its kinds of item."""
    r = p.latent_map.range
    lines = [
        f"**What the maps show.** Over the lab's square [-{r:g}, {r:g}]², each model's map "
        "covers a share of the test images and shows kinds of item (as any judge counts them "
        "on any seed):"
    ]
    lines += [
        f"- `{m}`: covers {_percent(numbers.mean(m, 'coverage'))}, shows {kinds_of_item(table, m)}"
        for m in p.report.models
    ]
    lines.append(
        f"Coverage is the share of test images whose {p.realism.k}-nearest-neighbour ball, in "
        "the judges' features, holds a map tile; a kind of item is a class present (the "
        "measures' meanings are below)."
    )
    return lines


def where_codes_lie(numbers: Numbers, models: list[str]) -> list[str]:
    """Where each model's test codes lie and how much of each map holds a test code: measured
    shares, no cause put to them (the factorial tests causes)."""
    inside = [f"{_percent(numbers.mean(m, MECHANISM))} of `{m}`'s" for m in models]
    held = [f"{_percent(numbers.mean(m, 'tiles_with_data', 'lab'))} of `{m}`'s" for m in models]
    return [
        f"**Where the codes lie.** Inside the lab's square lie {_list(inside)} test codes.",
        f"Of each map's tiles, {_list(held)} hold a test code; the others are decoded from codes "
        "no test image has.",
    ]


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
    """The references in TRICKS that score closer to real images than to noise on `metric` (on
    the judges' mean, results.gather_calibration's table), or None when the measure does not
    even tell real images from noise."""
    value = calibration_means(calibration)
    real, noise = value[("real", metric)], value[("noise", metric)]
    better = BY_NAME[metric].better
    if (real - noise if better == HIGHER else noise - real) <= 0:
        return None
    return [t for t in TRICKS if (value[(t, metric)] - noise) / (real - noise) > FOOLED_AT]


def calibration_lines(calibration: pd.DataFrame) -> list[str]:
    """Which claim measures images that are not items pass for items, said from the numbers
    (results.gather_calibration's table)."""
    measured = [m for m in CLAIM_MEASURES if m in set(calibration.metric)]
    fooled = {m: fooled_by(calibration, m) for m in measured}

    def names(metrics: list[str]) -> str:
        return ", ".join(f"*{_name(m)}*" for m in metrics)

    parts = [
        f"- {REFERENCES[t]} on {names(by)}"
        for t in TRICKS
        if (by := [m for m in measured if fooled[m] and t in fooled[m]])
    ]
    sound = [m for m in measured if fooled[m] == []]
    blind = [m for m in measured if fooled[m] is None]
    lines = ["**How far the measures can be fooled.** Measured as a map's tiles are,"]
    if parts:
        lines[0] += " images that are not items score closer to real images than to noise:"
        lines += parts
        lines.append(
            "A verdict resting on such a measure shows that one map's tiles look more like "
            "items to the judges, not that they are items rather than blurs or overlays."
        )
        if sound:
            lines.append(f"Neither passes for items on {names(sound)}.")
    elif sound:
        lines[0] += f" neither blurred images nor ghosts pass for items on {names(sound)}."
    if blind:
        verb = "it measures" if len(blind) == 1 else "they measure"
        lines.append(
            f"Real images score no better than noise on {names(blind)}: {verb} nothing here."
        )
    return lines


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
    matched_text = ", ".join(v.verdict for v in same)
    if any(v.verdict == NOT_DECIDED for v in against_lab):
        return (
            f"Against the lab's {_names(lab_aes)} it is not decided, so whether there is an "
            f"advantage for the VAE objective or capacity to explain is open (against the "
            f"capacity-matched {names} it is {matched_text})."
        )
    if any(v.verdict != SUPPORTED for v in against_lab):
        # Only a VAE advantage over the lab's autoencoder can be put down to the objective or to
        # capacity; without one there is nothing to explain.
        return (
            f"Without a consistent advantage over the lab's {_names(lab_aes)}, there is nothing "
            f"for the VAE objective or capacity to explain (against the capacity-matched {names} "
            f"it is {matched_text})."
        )
    if any(v.verdict == NOT_DECIDED for v in same):
        return (
            f"Against the capacity-matched {names} it is not decided, so whether the objective "
            f"or capacity explains it is open."
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


def claim_sentences(result: ClaimResult, lab_aes: list[str], matched: list[str]) -> list[str]:
    """A claim's verdicts against every autoencoder, then what capacity has to do with them:
    two short paragraphs."""
    parts = []
    for name in lab_aes + matched:
        v = result.verdicts[name]
        parts.append(f"{v.verdict} against `{name}`" + (f" ({v.note})" if v.note else ""))
    return [
        f"**{result.claim.text}**: " + ", ".join(parts) + ".",
        capacity_sentence(result, lab_aes, matched),
    ]


def _claims_lines(vae: str, claims: list[ClaimResult], aes: list[str], hidden: dict) -> list[str]:
    """The claims' verdicts for one VAE, claim by claim, with what capacity says of each."""
    matched = [n for n in aes if hidden[n] == hidden[vae]]
    lab_aes = [n for n in aes if n not in matched]
    lines = [f"**The claims for `{vae}`**, against each autoencoder over the lab's square:"]
    for r in claims:
        lines += claim_sentences(r, lab_aes, matched)
    return lines


def answer(
    results: dict[str, list[ClaimResult]],
    numbers: Numbers,
    table: pd.DataFrame,
    why: list[str],
    p: Params,
) -> list[str]:
    """The answer to the lab's question, as short Markdown paragraphs: what the maps show,
    which claims hold for each VAE, where the codes lie, and `why` (the mechanisms' paragraphs,
    or the sentence that says there is no design to test them)."""
    hidden = {m.name: m.hidden for m in p.compared}
    _, aes = vaes_and_aes(p)
    lines = maps_show(numbers, table, p)
    for vae, claims in results.items():
        lines += _claims_lines(vae, claims, aes, hidden)
    return lines + where_codes_lie(numbers, p.report.models) + why

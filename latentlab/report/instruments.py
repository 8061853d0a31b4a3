"""Whether the instruments can decide anything: the judges' accuracy, and whether each
judge-based measure tells real images from noise, from the judge and calibrate stages alone.

A judge-based measure (report.comparison's claims, the mechanisms' effects) is only as good as
the judges that classify and embed the tiles. Two floors, each set from what the instrument is,
before and apart from any model's result:

- JUDGE_ACCURACY_FLOOR: the judges' mean test accuracy. Chance on Fashion-MNIST's ten balanced
  classes is 10%, and a linear classifier of the raw pixels reaches about 84% (the benchmark
  of Xiao et al., 2017); a judge below 80% has not learnt even what the pixels alone give, so
  its classes and its features say little about a tile. Below it, every judge-based measure is
  too weak.
- SEPARATION: the calibrate stage measures training images and uniform noise exactly as a
  map's tiles. Per judge, real images' score minus noise's (in the measure's better direction)
  must be, on average over the judges, more than SEPARATION times the judges' standard
  deviation of that difference: three standard deviations, the usual mark of a difference no
  judge's noise makes. A measure that cannot tell real images from noise that clearly cannot
  tell one map's tiles from another's. With one judge the spread is unknown, so the separation
  is too.

A measure computed as another is (the paths' middle-image precision is the precision of
realism.subset_realism) is calibrated by it (CALIBRATED_AS). Measures without a judge (the
paths' evenness, in pixels) have no instrument to calibrate here.
"""

from __future__ import annotations

import math

import pandas as pd

from latentlab.analysis.metrics import BY_NAME, HIGHER

JUDGE_ACCURACY_FLOOR = 0.8
SEPARATION = 3.0
CALIBRATED_AS = {"path_middle_precision": "precision"}


def _name(metric: str) -> str:
    return metric.replace("_", " ")


def separation(calibration: pd.DataFrame, metric: str) -> tuple[float, float]:
    """Real images' score minus uniform noise's on `metric`, in its better direction: the mean
    over judges and the judges' standard deviation (NaN with one judge), from the table of
    results.gather_calibration."""
    rows = calibration[calibration.metric == metric].pivot(
        index="judge", columns="reference", values="value"
    )
    if rows.empty:
        raise KeyError(f"the calibration holds no {metric}")
    diff = rows["real"] - rows["noise"]
    diff = diff if BY_NAME[metric].better == HIGHER else -diff
    return float(diff.mean()), float(diff.std(ddof=1)) if len(diff) > 1 else float("nan")


def separation_problem(calibration: pd.DataFrame, metric: str) -> str:
    """Why `metric`'s instrument does not tell real images from noise clearly (SEPARATION), or
    "" when it does."""
    measured = CALIBRATED_AS.get(metric, metric)
    gap, spread = separation(calibration, measured)
    on = _name(measured)
    if measured != metric:
        on += f" (which {_name(metric)} is computed as)"
    if gap <= 0:
        return f"real images score no better than noise on {on}"
    if math.isnan(spread):
        return "with one judge, real images' lead over noise has no spread to be held against"
    if gap <= SEPARATION * spread:
        return (
            f"real images lead noise on {on} by {gap:.3g}, not more than {SEPARATION:g} times "
            f"the judges' spread of that lead ({spread:.2g})"
        )
    return ""


def accuracy_problem(accuracy: float) -> str:
    """Why judges of this mean test accuracy are too weak (JUDGE_ACCURACY_FLOOR), or ""."""
    if accuracy >= JUDGE_ACCURACY_FLOOR:
        return ""
    return (
        f"the judges' mean test accuracy is {accuracy:.2f}, below the floor of "
        f"{JUDGE_ACCURACY_FLOOR:.2f}"
    )


def too_weak(
    calibration: pd.DataFrame, accuracy: float, metrics: list[str]
) -> dict[str, tuple[str, ...]]:
    """metric -> why its instrument is too weak for a verdict, for each judge-based metric of
    `metrics` that fails a floor (the module's docstring); `accuracy` is the judges' mean test
    accuracy."""
    weak = {}
    for metric in dict.fromkeys(metrics):
        if BY_NAME[metric].per_judge:
            reasons = (accuracy_problem(accuracy), separation_problem(calibration, metric))
            if any(reasons):
                weak[metric] = tuple(r for r in reasons if r)
    return weak

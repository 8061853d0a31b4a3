"""A sweep's grid: `dvc exp run -S` arguments expanded into points, exactly as DVC does.

DVC expands a grid only for its own queue (`dvc exp run --queue -S vae.lr=0.001,0.003`), with
Hydra's sweep grammar: lists `a=1,2`, `choice(...)` and `range(...)`, one product over every
key. `expand` calls the two DVC functions that `dvc exp run` calls for that, so a SLURM sweep
and DVC's queue agree point for point (tests/test_sweep_grid.py compares them with
`dvc exp run --queue`). Each point is named by its overrides, so submitting a grid again can
tell which points already have an experiment.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from latentlab.core.errors import UserError

DEFAULT_PARAMS = "params.yaml"
MAX_NAME = 100  # characters of an experiment name made from a point
GRAMMAR = "a list (a=1,2), choice(...) or range(...), as `dvc exp run -S` takes them"
# Characters git allows in a ref name and DVC in an experiment name (no "/", no "~^:?*[\").
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]")


@dataclass(frozen=True)
class Point:
    """One point of a grid: the `-S` values of one `dvc exp run`."""

    args: tuple[str, ...]

    @property
    def label(self) -> str:
        """The point as a user wrote it: `vae.lr=0.001, vae.epochs=2`."""
        return ", ".join(self.args)

    @property
    def name(self) -> str:
        """The point's experiment name: its overrides, made safe for a git ref when needed."""
        return experiment_name(self.args)


@dataclass(frozen=True)
class PointResult:
    """How one point ended: pushed as an experiment, or why not."""

    name: str
    label: str
    ok: bool
    reason: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        """One line for the terminal and the log."""
        if self.ok:
            took = f" ({self.seconds:.0f} s)" if self.seconds else ""
            return f"ok      {self.label}: experiment {self.name}{took}"
        return f"FAILED  {self.label}: {self.reason}"


def experiment_name(args: Sequence[str]) -> str:
    """`vae.lr=0.001` for one override, joined by commas for more. List brackets are dropped
    and other characters a git ref cannot hold become `_`; a name that had to change (or be cut
    to MAX_NAME) ends in a hash of the original, so that two points never share a name."""
    text = ",".join(args)
    safe = _UNSAFE.sub("_", text.replace("[", "").replace("]", ""))
    safe = re.sub(r"\.\.+", ".", safe).strip(".")
    if safe == text and len(safe) <= MAX_NAME and not safe.endswith(".lock"):
        return safe
    digest = hashlib.sha1(text.encode()).hexdigest()[:7]
    return f"{safe[: MAX_NAME - 8].rstrip('.')}-{digest}"


def expand(set_params: Sequence[str]) -> list[Point]:
    """The points of the grid that these `-S` values describe, in DVC's order; a UserError in
    one sentence for a value that DVC's sweep grammar refuses."""
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.cli_parse import to_path_overrides
    from dvc.utils.hydra import get_hydra_sweeps
    from hydra.errors import HydraException

    if not set_params:
        raise UserError(f"the grid is empty: give it as -S key=values, {GRAMMAR}")
    try:
        sweeps = get_hydra_sweeps(to_path_overrides(set_params))
    except (HydraException, InvalidArgumentError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"the grid {' '.join(set_params)!r} cannot be expanded ({reason}); each -S takes "
            f"{GRAMMAR}"
        ) from None
    points = []
    for sweep in sweeps:
        args = []
        for path, overrides in sweep.items():
            args += [o if path == DEFAULT_PARAMS else f"{path}:{o}" for o in overrides]
        points.append(Point(tuple(args)))
    return points


def swept_keys(points: Sequence[Point]) -> list[str]:
    """The keys that take more than one value over the points, in the grid's order."""
    values: dict[str, set[str]] = {}
    for point in points:
        for arg in point.args:
            key, _, value = arg.partition("=")
            values.setdefault(key, set()).add(value)
    return [key for key, seen in values.items() if len(seen) > 1]

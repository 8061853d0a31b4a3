"""The balls stage's work: every judge's k-nearest-neighbour balls of random subsets of the test
images, in its features, drawn once for the stages that compare decoded images with real ones
(render and calibrate: subsets as large as a map's tiles; interpolate: as the paths' middle
images), and read back by them checked against the judges and params they run with."""

from __future__ import annotations

import hashlib

import numpy as np

from latentlab.analysis.realism import Balls, real_subsets, subset_balls, subset_radii
from latentlab.core import paths
from latentlab.core.artifacts import load_arrays, save_arrays
from latentlab.core.errors import UserError
from latentlab.core.params import Params

USES = ("map", "interpolate")  # render and calibrate; interpolate


def subset_size(p: Params, use: str) -> int:
    """How many test images a subset of `use` asks for, before the data's own size caps it."""
    ip = p.interpolate
    return {"map": p.latent_map.grid**2, "interpolate": ip.pairs * (ip.steps - 1)}[use]


def features_digest(features: list[np.ndarray] | np.ndarray) -> str:
    """A SHA-256 of the judges' test features, so that balls drawn from other features show."""
    digest = hashlib.sha256()
    for judge_features in features:
        digest.update(np.ascontiguousarray(judge_features).tobytes())
    return digest.hexdigest()


def draw(p: Params, features: np.ndarray) -> dict[str, np.ndarray]:
    """Every use's subsets and every judge's radii over them (judges x subsets x subset size),
    with what they were drawn from, as the arrays of paths.REAL_BALLS."""
    r = p.realism
    arrays = {"features_sha256": np.array(features_digest(features)), "k": np.array(r.k)}
    for use in USES:
        subsets = real_subsets(features.shape[1], subset_size(p, use), r.subsets, r.seed)
        arrays[f"{use}_subsets"] = subsets
        arrays[f"{use}_radii"] = np.stack([subset_radii(f, r.k, subsets) for f in features])
    return arrays


def save(arrays: dict[str, np.ndarray]) -> None:
    """Write what `draw` made to paths.REAL_BALLS."""
    save_arrays(paths.REAL_BALLS, **arrays)


def load(p: Params, use: str, features: list[np.ndarray]) -> list[list[Balls]]:
    """Every judge's balls of `use`'s subsets, refused unless they were drawn from these judges'
    `features` with the realism params and sizes of `p`."""
    subsets, radii, made_from, k = load_arrays(
        paths.REAL_BALLS, f"{use}_subsets", f"{use}_radii", "features_sha256", "k"
    )
    r = p.realism
    expected = real_subsets(len(features[0]), subset_size(p, use), r.subsets, r.seed)
    if (
        str(made_from) != features_digest(features)
        or int(k) != r.k
        or not np.array_equal(subsets, expected)
        or radii.shape != (len(features), *expected.shape)
    ):
        raise UserError(
            f"{paths.REAL_BALLS} was drawn from other judges' features or other realism, "
            f"latent_map.grid or interpolate params than these; rerun `dvc repro balls`"
        )
    return [subset_balls(f, r.k, subsets, rows) for f, rows in zip(features, radii, strict=True)]

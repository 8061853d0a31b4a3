"""Stage `balls`: every judge's k-nearest-neighbour balls of random subsets of the test images,
in its features: subsets as large as a map's tiles (for the render and calibrate stages) and as
the paths' middle images (for the interpolate stages). They depend on the judges alone, so they
are drawn here once instead of in every stage that compares decoded images with real ones."""

if not __package__:  # `python stages/balls.py`: the imports below need `python -m`
    raise SystemExit("error: run it from the repository root as `python -m stages.balls`")

import logging

import numpy as np

from latentlab.analysis.realism import real_subsets, subset_radii
from latentlab.core import paths
from latentlab.core.artifacts import load_arrays, save_arrays
from latentlab.core.errors import UserError
from stages import log_written, stage_entry, stage_params

log = logging.getLogger("balls")


@stage_entry
def main() -> None:
    """Draw every judge's balls of the test images' subsets."""
    p, _ = stage_params(__doc__)
    r = p.realism
    seeds, features = load_arrays(paths.JUDGE_FEATURES, "seeds", "features")
    if [int(s) for s in seeds] != p.judge.seeds:
        raise UserError(
            f"{paths.JUDGE_FEATURES} holds the features of judges {seeds.tolist()}, not of "
            f"judge.seeds {p.judge.seeds}; rerun `dvc repro judge`"
        )
    ip = p.interpolate
    sizes = {"map": p.latent_map.grid**2, "interpolate": ip.pairs * (ip.steps - 1)}
    arrays = {}
    for use, size in sizes.items():
        subsets = real_subsets(features.shape[1], size, r.subsets, r.seed)
        arrays[f"{use}_subsets"] = subsets
        arrays[f"{use}_radii"] = np.stack([subset_radii(f, r.k, subsets) for f in features])
        log.info(
            "%d judges x %d subsets of %d test images (%s), k %d",
            len(features),
            r.subsets,
            subsets.shape[1],
            use,
            r.k,
        )
    save_arrays(paths.REAL_BALLS, **arrays)
    log_written(log, paths.REAL_BALLS)


if __name__ == "__main__":
    main()

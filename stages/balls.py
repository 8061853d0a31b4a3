"""Stage `balls`: every judge's k-NN balls of random subsets of the test images, drawn once for
the render, calibrate and interpolate stages (the work: latentlab/balls.py)."""

if not __package__:  # `python stages/balls.py`: the imports below need `python -m`
    raise SystemExit("error: run it from the repository root as `python -m stages.balls`")

import logging

from latentlab import balls
from latentlab.core import paths
from latentlab.core.artifacts import load_arrays
from latentlab.core.errors import UserError
from stages import log_written, stage_entry, stage_params

log = logging.getLogger("balls")


@stage_entry
def main() -> None:
    """Draw every judge's balls of the test images' subsets."""
    p, _ = stage_params(__doc__)
    seeds, features = load_arrays(paths.JUDGE_FEATURES, "seeds", "features")
    if [int(s) for s in seeds] != p.judge.seeds:
        raise UserError(
            f"{paths.JUDGE_FEATURES} holds the features of judges {seeds.tolist()}, not of "
            f"judge.seeds {p.judge.seeds}; rerun `dvc repro judge`"
        )
    arrays = balls.draw(p, features)
    for use in balls.USES:
        log.info(
            "%d judges x %d subsets of %d test images (%s), k %d",
            len(features),
            p.realism.subsets,
            arrays[f"{use}_subsets"].shape[1],
            use,
            p.realism.k,
        )
    balls.save(arrays)
    log_written(log, paths.REAL_BALLS)


if __name__ == "__main__":
    main()

"""Stage `calibrate`: measure images of known realism (training images, the same blurred, ghosts
of two items, noise) as a map's tiles are measured, with every judge, so that the report can
say which measures a blur or a ghost fools."""

if not __package__:  # `python stages/calibrate.py`: the imports below need `python -m`
    raise SystemExit("error: run it from the repository root as `python -m stages.calibrate`")

import logging

import torch

from latentlab import balls, calibration
from latentlab.core import paths
from latentlab.core.artifacts import write_json
from latentlab.core.fashion_mnist import load_split
from latentlab.core.params import Params
from latentlab.core.paths import DATA_ROOT
from latentlab.judge.network import load_panel
from latentlab.nn.runtime import setup
from stages import log_written, stage_entry, stage_params

log = logging.getLogger("calibrate")


@stage_entry
def main() -> None:
    """Measure the reference images with every judge."""
    p, _ = stage_params(__doc__)
    runtime = setup(p.device, p.precision, log)
    with runtime.autocast():  # the judges' convolutions and matmuls
        _calibrate(p, runtime.device)


def _calibrate(p: Params, device: torch.device) -> None:
    """The reference sets, measured by every judge on `device`."""
    lm, r = p.latent_map, p.realism
    panel = load_panel(p.judge.seeds, p.judge.channels, device)
    real = panel.test_features
    # The same real subsets and balls as the render stage's, and as many images as a map's tiles.
    real_balls = balls.load(p, "map", panel.test_features)
    images, labels = load_split(DATA_ROOT, "train", p.limit)
    references = calibration.reference_images(images, labels, lm.grid**2, r.seed)
    measured = calibration.calibrate(
        references, panel.judges, real, real_balls, lm.min_confidence, lm.min_tiles
    )
    for name, values in measured.items():
        log.info(
            "%s: %s",
            name,
            ", ".join(f"{m} {sum(v) / len(v):.3g}" for m, v in values.items()),
        )
    write_json(paths.CALIBRATION, measured)
    log_written(log, paths.CALIBRATION)


if __name__ == "__main__":
    main()

"""Stage `interpolate@<model>`: decode straight paths between the test codes of pairs of test
images of different classes (the same pairs for every model), for every seed; measure how evenly
and how realistically the images change along them; keep the first few paths for the report's
figure."""

if not __package__:  # `python stages/interpolate.py`: the imports below need `python -m`
    raise SystemExit("error: run it from the repository root as `python -m stages.interpolate`")

import logging

import numpy as np
import torch

from latentlab import balls, interpolation
from latentlab.analysis.transitions import pick_pairs
from latentlab.core import paths
from latentlab.core.artifacts import load_arrays, save_arrays, write_json
from latentlab.core.errors import UserError
from latentlab.core.fashion_mnist import IMAGE_SIDE, load_split
from latentlab.core.params import ModelParams, Params
from latentlab.core.paths import DATA_ROOT
from latentlab.judge.network import judge_all, load_panel
from latentlab.nn.runtime import setup
from latentlab.nn.trained import load_trained
from stages import log_written, stage_entry, stage_params

log = logging.getLogger("interpolate")


def _test_codes(mp: ModelParams, seed: int, n_test: int, limit: int) -> np.ndarray:
    """The evaluate stage's codes of the test images, refused unless one per test image."""
    file = paths.codes(mp.name, seed)
    (codes,) = load_arrays(file, "codes")
    if codes.shape != (n_test, mp.latent_dim):
        raise UserError(
            f"{file} holds codes of shape {codes.shape}, not one {mp.latent_dim}-D code for each "
            f"of the {n_test} test images that data.limit {limit} gives; rerun "
            f"`dvc repro evaluate@{mp.name}`"
        )
    return codes


@stage_entry
def main() -> None:
    """Decode and measure the paths of every seed of the model named on the command line."""
    p, mp = stage_params(__doc__, per_model=True)
    runtime = setup(p.device, p.precision, log)
    with runtime.autocast():  # the matmuls and convolutions of the models and the judges
        _interpolate(p, mp, runtime.device)


def _interpolate(p: Params, mp: ModelParams, device: torch.device) -> None:
    """Every seed's paths, decoded and measured on `device`."""
    pp = p.interpolate
    panel = load_panel(p.judge.seeds, p.judge.channels, device)
    test_images, test_labels = load_split(DATA_ROOT, "test", p.limit)
    try:
        pairs = pick_pairs(test_labels, pp.pairs, pp.seed)
    except ValueError as err:
        raise UserError(
            f"interpolate.pairs: {err} (data.limit is {p.limit}); raise data.limit"
        ) from None
    codes_by_seed = {seed: _test_codes(mp, seed, len(test_images), p.limit) for seed in p.seeds}
    real_balls = balls.load(p, "interpolate", panel.test_features)
    for seed in p.seeds:
        model = load_trained(mp, seed, device)
        codes = codes_by_seed[seed]
        images = interpolation.decode_paths(model, codes, pairs, pp.steps)
        judged = judge_all(panel.judges, images.reshape(-1, IMAGE_SIDE, IMAGE_SIDE))
        measured, per_path = interpolation.path_measures(images, judged, real_balls)
        shown = pairs[: pp.shown]
        save_arrays(
            paths.path_strips(mp.name, seed),
            pairs=pairs,  # every path's test images, so the report can check it pairs paths
            images=images[: pp.shown],
            start=test_images[shown[:, 0]],
            end=test_images[shown[:, 1]],
            start_code=codes[shown[:, 0]],
            end_code=codes[shown[:, 1]],
            **per_path,
        )
        write_json(paths.path_metrics(mp.name, seed), measured)
        log.info(
            "%s seed %d: %d paths of %d steps: evenness %.3f, middle precision %s",
            mp.name,
            seed,
            pp.pairs,
            pp.steps,
            measured["path_evenness"],
            ", ".join(f"{v:.3f}" for v in measured["path_middle_precision"]),
        )
    log_written(
        log,
        paths.path_metrics(mp.name, p.seeds[0]).parent,
        paths.path_strips(mp.name, p.seeds[0]).parent,
    )


if __name__ == "__main__":
    main()

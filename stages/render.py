"""Stage `render@<model>`: decode every seed's map over the lab's square and over the square of
the model's own test codes, and samples from the prior; measure both maps with every judge.

One stage per model renders every seed: a map takes a fraction of a second, a process's start
(importing torch) about two.
"""

if not __package__:  # `python stages/render.py`: the imports below need `python -m`
    raise SystemExit("error: run it from the repository root as `python -m stages.render`")

import logging

import torch
from PIL import Image

from latentlab import balls, rendering
from latentlab.analysis.latent_grid import mosaic, to_uint8
from latentlab.core import paths
from latentlab.core.artifacts import atomic_path, load_arrays, save_arrays, write_json
from latentlab.core.fashion_mnist import IMAGE_SIDE
from latentlab.core.params import ModelParams, Params
from latentlab.judge.network import judge_all, load_panel
from latentlab.nn.runtime import setup
from latentlab.nn.trained import load_trained
from stages import log_written, stage_entry, stage_params

log = logging.getLogger("render")


@stage_entry
def main() -> None:
    """Render and measure the maps of every seed of the model named on the command line."""
    p, mp = stage_params(__doc__, per_model=True)
    runtime = setup(p.device, p.precision, log)
    with runtime.autocast():  # the matmuls and convolutions of the models and the judges
        _render(p, mp, runtime.device)


def _render(p: Params, mp: ModelParams, device: torch.device) -> None:
    """Every seed's maps and prior samples, decoded and measured on `device`."""
    lm = p.latent_map
    panel = load_panel(p.judge.seeds, p.judge.channels, device)
    real = panel.test_features
    real_balls = balls.load(p, "map", panel.test_features)
    for seed in p.seeds:
        model = load_trained(mp, seed, device)
        (test_codes,) = load_arrays(paths.codes(mp.name, seed), "codes")
        arrays, measured = {}, {}
        for square in rendering.squares(test_codes, lm):
            z, tiles = rendering.decode_square(model, square, lm.grid)
            judged = judge_all(panel.judges, tiles.reshape(-1, IMAGE_SIDE, IMAGE_SIDE))
            measured[square.name] = rendering.map_measures(
                tiles, z, test_codes, square, judged, real, real_balls, lm
            )
            arrays[f"{square.name}_z"], arrays[f"{square.name}_tiles"] = z, tiles
            with atomic_path(paths.map_file(mp.name, seed, ".png", square.name)) as tmp:
                Image.fromarray(to_uint8(mosaic(tiles)), mode="L").save(tmp, format="PNG")
            log.info(
                "%s seed %d, %s square (centre %s, half-width %.3g): coverage %.3f, precision "
                "%.3f, classes %s",
                mp.name,
                seed,
                square.name,
                ", ".join(f"{c:.3g}" for c in square.center),
                square.half_width,
                sum(measured[square.name]["coverage"]) / len(real),
                sum(measured[square.name]["precision"]) / len(real),
                measured[square.name]["classes_present"],
            )
        arrays["prior_z"], arrays["prior_images"] = rendering.prior_samples(
            model, lm.prior_samples, lm.prior_seed
        )
        save_arrays(paths.map_file(mp.name, seed, ".npz"), **arrays)
        write_json(paths.map_metrics(mp.name, seed), measured)
    log_written(
        log,
        paths.map_file(mp.name, p.seeds[0], ".png").parent,
        paths.map_metrics(mp.name, p.seeds[0]).parent,
    )


if __name__ == "__main__":
    main()

"""Stage `render@<model>`: decode the latent grid of each seed's model into a map; measure it.

One stage per model renders every seed: each map takes a tenth of a second, the process's start
(importing torch) about two, so a `latent_map` change costs one start per model, not per run.
"""

import logging

from PIL import Image

from latentlab import measures
from latentlab.artifacts import atomic_path, load_arrays, save_arrays, write_json
from latentlab.checkpoints import load_weights
from latentlab.errors import stage_entry
from latentlab.fashion_mnist import CLASSES, IMAGE_SIDE
from latentlab.judge import Judge, predict_proba
from latentlab.latent_grid import grid_codes, mosaic, to_uint8
from latentlab.models import build_model
from latentlab.paths import JUDGE, map_file, map_metrics, run_dir
from stages import model_args

log = logging.getLogger("render")


@stage_entry
def main() -> None:
    """Render and measure the map of every seed of the model named on the command line."""
    p, mp = model_args(__doc__)
    lm = p.latent_map
    codes = grid_codes(lm.grid, lm.range)
    judge = load_weights(Judge(p.judge.channels), JUDGE / "model.pt")
    measured = {}
    for seed in p.seeds:
        run = run_dir(mp.name, seed)
        model = load_weights(build_model(mp.kind, mp.latent_dim, mp.hidden), run / "model.pt")
        tiles = model.decode_grid(codes)
        save_arrays(map_file(mp.name, seed, ".npz"), z=codes, tiles=tiles)
        with atomic_path(map_file(mp.name, seed, ".png")) as tmp:
            Image.fromarray(to_uint8(mosaic(tiles)), mode="L").save(tmp, format="PNG")

        probs = predict_proba(judge, tiles.reshape(-1, IMAGE_SIDE, IMAGE_SIDE))
        tile_summary = measures.tile_class_summary(probs, min_tiles=lm.min_tiles)
        smooth = measures.smoothness(tiles)
        (test_codes,) = load_arrays(run / "codes.npz", "codes")
        measured[f"seed{seed}"] = {
            "codes_in_square": measures.in_square_fraction(test_codes, lm.range),
            "map_classes_present": tile_summary["classes_present"],
            "map_mean_top_prob": tile_summary["mean_top_prob"],
            "map_inception_score": tile_summary["inception_score"],
            "map_blank_fraction": measures.blank_fraction(tiles, lm.blank_std),
            "map_smoothness_mean": smooth["mean"],
            "map_smoothness_p95": smooth["p95"],
            "map_tiles_per_class": dict(zip(CLASSES, tile_summary["histogram"], strict=True)),
        }
        log.info(
            "%s seed %d: %dx%d map over [-%g, %g]^2 -> %s; %d classes",
            mp.name, seed, lm.grid, lm.grid, lm.range, lm.range,
            map_file(mp.name, seed, ".png"), tile_summary["classes_present"],
        )
    write_json(map_metrics(mp.name), measured)


if __name__ == "__main__":
    main()

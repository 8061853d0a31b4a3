"""Stage `render@<model>-<seed>`: decode the latent grid into the map, and measure the map."""


from PIL import Image

from latentlab import measures
from latentlab.artifacts import atomic_path, load_arrays, save_arrays, write_json
from latentlab.checkpoints import load_weights
from latentlab.errors import stage_entry
from latentlab.fashion_mnist import CLASSES, IMAGE_SIDE
from latentlab.judge import Judge, predict_proba
from latentlab.latent_grid import decode_grid, grid_codes, mosaic, to_uint8
from latentlab.models import build_model
from latentlab.paths import JUDGE, run_dir
from stages import run_args


@stage_entry
def main() -> None:
    """Render and measure the map of the model and seed named on the command line."""
    p, mp, seed = run_args(__doc__)
    lm = p.latent_map
    out = run_dir(mp.name, seed)
    model = load_weights(build_model(mp.kind, mp.latent_dim, mp.hidden), out / "model.pt")

    codes = grid_codes(lm.grid, lm.range)
    tiles = decode_grid(model, codes)
    save_arrays(out / "map.npz", z=codes, tiles=tiles)
    with atomic_path(out / "map.png") as tmp:
        Image.fromarray(to_uint8(mosaic(tiles)), mode="L").save(tmp, format="PNG")

    judge = load_weights(Judge(p.judge.channels), JUDGE / "model.pt")
    probs = predict_proba(judge, tiles.reshape(-1, IMAGE_SIDE, IMAGE_SIDE))
    tile_summary = measures.tile_class_summary(probs, min_tiles=lm.min_tiles)
    smooth = measures.smoothness(tiles)
    (test_codes,) = load_arrays(out / "codes.npz", "codes")
    write_json(
        out / "map.json",
        {
            "codes_in_square": measures.in_square_fraction(test_codes, lm.range),
            "map_classes_present": tile_summary["classes_present"],
            "map_mean_top_prob": tile_summary["mean_top_prob"],
            "map_inception_score": tile_summary["inception_score"],
            "map_blank_fraction": measures.blank_fraction(tiles, lm.blank_std),
            "map_smoothness_mean": smooth["mean"],
            "map_smoothness_p95": smooth["p95"],
            "map_tiles_per_class": dict(zip(CLASSES, tile_summary["histogram"], strict=True)),
        },
    )
    print(
        f"{mp.name} seed {seed}: {lm.grid}x{lm.grid} map over [-{lm.range:g}, "
        f"{lm.range:g}]^2 -> {out / 'map.png'}; {tile_summary['classes_present']} classes"
    )


if __name__ == "__main__":
    main()

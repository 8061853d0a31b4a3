"""Stage `render@<model>-<seed>`: decode the latent grid into tiles and the latent-map PNG."""

import argparse

from PIL import Image

from latentlab import params
from latentlab.artifacts import atomic_path, save_arrays
from latentlab.checkpoints import load_weights
from latentlab.errors import stage_entry
from latentlab.latent_grid import decode_grid, grid_codes, mosaic, to_uint8
from latentlab.models import build_model
from latentlab.paths import run_dir


@stage_entry
def main() -> None:
    """Render the map of the model and seed named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("seed", type=int)
    args = parser.parse_args()
    p = params.load()
    mp = p.model(args.model)
    out = run_dir(mp.name, args.seed)
    model = load_weights(build_model(mp.kind, mp.latent_dim, mp.hidden), out / "model.pt")

    codes = grid_codes(p.map_grid, p.map_range)
    tiles = decode_grid(model, codes)
    save_arrays(out / "map.npz", z=codes, tiles=tiles)
    with atomic_path(out / "map.png") as tmp:
        Image.fromarray(to_uint8(mosaic(tiles)), mode="L").save(tmp, format="PNG")
    print(
        f"{mp.name} seed {args.seed}: {p.map_grid}x{p.map_grid} map over "
        f"[-{p.map_range:g}, {p.map_range:g}]^2 -> {out / 'map.png'}"
    )


if __name__ == "__main__":
    main()

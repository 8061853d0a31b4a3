"""Stage `train@<model>`: train the model once per seed of `seeds`, every seed at once as one
stacked model (latentlab/training.py); log the curves and the map after every epoch with DVCLive
(per-step images in VS Code and DVC Studio); write the weights."""

if not __package__:  # `python stages/train.py`: the imports below need `python -m`
    raise SystemExit("error: run it from the repository root as `python -m stages.train`")

import logging

import torch
from dvclive import Live
from PIL import Image

from latentlab.analysis.latent_grid import grid_codes, mosaic, to_uint8
from latentlab.core import paths
from latentlab.core.fashion_mnist import load_split
from latentlab.core.paths import DATA_ROOT
from latentlab.nn.checkpoints import save_weights
from latentlab.nn.models import LatentModel
from latentlab.nn.runtime import setup
from latentlab.nn.trained import new_model
from latentlab.training import train
from stages import log_written, stage_entry, stage_params

log = logging.getLogger("train")


@stage_entry
def main() -> None:
    """Train the model named on the command line, every seed at once."""
    p, mp = stage_params(__doc__, per_model=True)
    images, _ = load_split(DATA_ROOT, "train", p.limit)
    runtime = setup(p.device, p.precision, log)
    progress_codes = grid_codes(p.progress_map.grid, p.progress_map.range)
    out = paths.train_dir(mp.name)
    models: dict[int, LatentModel] = {}
    for seed in p.seeds:
        torch.manual_seed(seed)  # each seed's initial weights, as if it trained alone
        models[seed] = new_model(mp)
    log.info("training %s (seeds %s) on %d images", mp.name, p.seeds, len(images))
    with Live(str(out), dvcyaml=None, save_dvc_exp=False) as live:

        def log_epoch(epoch: int, means: dict[int, dict[str, float]]) -> None:
            live.step = epoch
            for seed, seed_means in means.items():
                for term, value in seed_means.items():
                    if term != "epoch":
                        live.log_metric(f"seed{seed}/{term}", value)
                tiles = models[seed].decode_grid(progress_codes)
                image = Image.fromarray(to_uint8(mosaic(tiles)), mode="L")
                # DVCLive writes the image to plots/images/<name>: where progress_image says.
                image_name = paths.progress_image(mp.name, seed, epoch).relative_to(
                    out / "plots" / "images"
                )
                live.log_image(image_name.as_posix(), image)

        history = train(
            models,
            images,
            name=mp.name,
            epochs=mp.epochs,
            batch_size=mp.batch_size,
            lr=mp.lr,
            runtime=runtime,
            on_epoch=log_epoch,
        )
        # Written only now that every seed has trained: a diverged seed leaves no model behind.
        for seed, model in models.items():
            save_weights(model, paths.weights(mp.name, seed))
        for term in history[p.seeds[0]][0]:
            if term != "epoch":
                rows = [
                    {"epoch": r["epoch"], "seed": seed, term: r[term]}
                    for seed, seed_history in history.items()
                    for r in seed_history
                ]
                live.log_plot(
                    term,
                    rows,
                    x="epoch",
                    y=term,
                    template="seeds",
                    title=f"{mp.name}: train {term} per image, by seed",
                )
    log_written(log, out, paths.weights(mp.name, p.seeds[0]).parent)


if __name__ == "__main__":
    main()

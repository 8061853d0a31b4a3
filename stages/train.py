"""Stage `train@<model>`: train the model once per seed of `seeds`; log the curves and the map
after every epoch with DVCLive (per-step images in VS Code and DVC Studio); write the weights."""

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
from latentlab.nn.runtime import resolve_device
from latentlab.nn.trained import new_model
from latentlab.training import train
from stages import log_written, stage_entry, stage_params

log = logging.getLogger("train")


@stage_entry
def main() -> None:
    """Train the model named on the command line, once per seed."""
    p, mp = stage_params(__doc__, per_model=True)
    device = resolve_device(p.device)
    images, _ = load_split(DATA_ROOT, "train", p.limit)
    progress_codes = grid_codes(p.progress_map.grid, p.progress_map.range)
    out = paths.train_dir(mp.name)
    curves: dict[str, list[dict]] = {}  # per loss term: every seed's epochs, for one plot
    trained = {}  # saved once every seed has trained, so a diverged seed leaves no model behind
    with Live(str(out), dvcyaml=None, save_dvc_exp=False) as live:
        for seed in p.seeds:
            log.info("training %s (seed %d) on %d images on %s", mp.name, seed, len(images), device)
            torch.manual_seed(seed)
            model = new_model(mp)

            def log_epoch(
                epoch: int, means: dict[str, float], seed: int = seed, model: LatentModel = model
            ) -> None:
                live.step = epoch
                for term, value in means.items():
                    if term != "epoch":
                        live.log_metric(f"seed{seed}/{term}", value)
                tiles = model.decode_grid(progress_codes)
                image = Image.fromarray(to_uint8(mosaic(tiles)), mode="L")
                # DVCLive writes the image to plots/images/<name>: where progress_image says.
                image_name = paths.progress_image(mp.name, seed, epoch).relative_to(
                    out / "plots" / "images"
                )
                live.log_image(image_name.as_posix(), image)

            history = train(
                model,
                images,
                name=mp.name,
                epochs=mp.epochs,
                batch_size=mp.batch_size,
                lr=mp.lr,
                seed=seed,
                device=device,
                on_epoch=log_epoch,
            )
            trained[seed] = model
            for term in history[0]:
                if term != "epoch":
                    rows = [{"epoch": r["epoch"], "seed": seed, term: r[term]} for r in history]
                    curves.setdefault(term, []).extend(rows)
        for seed, model in trained.items():
            save_weights(model, paths.weights(mp.name, seed))
        for term, rows in curves.items():
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

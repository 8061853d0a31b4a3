"""Stage `train@<model>-<seed>`: train one model with one seed; write weights, curve and metrics."""

import logging

import torch

from latentlab.artifacts import write_csv, write_json
from latentlab.checkpoints import save_weights
from latentlab.errors import stage_entry
from latentlab.fashion_mnist import load_split
from latentlab.models import build_model
from latentlab.paths import DATA_ROOT, run_dir
from latentlab.training import resolve_device, train
from stages import run_args

log = logging.getLogger("train")


@stage_entry
def main() -> None:
    """Train the model named on the command line with the seed named there."""
    p, mp, seed = run_args(__doc__)
    device = resolve_device(p.device)
    images, _ = load_split(DATA_ROOT, "train", p.limit)
    log.info("training %s (seed %d) on %d images on %s", mp.name, seed, len(images), device)

    torch.manual_seed(seed)
    model = build_model(mp.kind, mp.latent_dim, mp.hidden)
    history = train(
        model,
        images,
        name=mp.name,
        epochs=mp.epochs,
        batch_size=mp.batch_size,
        lr=mp.lr,
        seed=seed,
        device=device,
    )
    out = run_dir(mp.name, seed)
    save_weights(model, out / "model.pt")
    write_csv(out / "train_curve.csv", history)
    final = history[-1]
    write_json(out / "train.json", {f"train_{k}": v for k, v in final.items() if k != "epoch"})


if __name__ == "__main__":
    main()

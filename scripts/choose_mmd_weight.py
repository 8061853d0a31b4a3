"""Choose the WAE's MMD weight, once, by a rule that looks at no claim measure.

The rule: the smallest weight of GRID at which both eigenvalues of the covariance of the training
codes lie in [0.5, 2] (the prior N(0, I) has both at 1), the model trained as its train stage
trains it (the architecture, epochs, batch size and lr of its params.yaml section) for one seed on
the full training set. The grid is searched upwards and stops at the first weight that passes, so
every weight printed before it failed; the default of the section's `mmd_weight` in params.yaml
is that weight. Nothing else of the model is measured here: its maps, paths and claims are not
looked at, so the weight cannot have been chosen for what it does to them.

    python -m scripts.choose_mmd_weight [--model wae] [--seed 1]

Prints one Markdown table row per weight tried: the weight, both eigenvalues, pass or fail.
Exit status 0 when a weight passes, 1 when none of the grid does or its smallest already does
(then the grid must be extended, not read).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import torch

from latentlab.analysis.codes import PRIOR_BAND, covariance_eigenvalues
from latentlab.core import params
from latentlab.core.fashion_mnist import load_split
from latentlab.core.paths import DATA_ROOT
from latentlab.evaluation import encode_means
from latentlab.nn.runtime import as_pixels, resolve_device
from latentlab.nn.trained import new_model
from latentlab.training import train

# Half a decade apart (10^(k/2), rounded to one digit), from weights that leave the codes as an
# autoencoder's to weights that swamp a reconstruction BCE of a few hundred per image.
GRID = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)
LOW, HIGH = PRIOR_BAND


def eigenvalues_at(mp: params.ModelParams, weight: float, seed: int) -> tuple[float, float]:
    """Train section `mp` with MMD weight `weight` and seed `seed` on every training image; the
    largest and smallest eigenvalue of its training codes' covariance."""
    device = resolve_device("auto")
    images, _ = load_split(DATA_ROOT, "train", 0)
    torch.manual_seed(seed)  # the initial weights, as the train stage draws them
    model = new_model(dataclasses.replace(mp, mmd_weight=weight))
    train(
        model,
        images,
        name=mp.name,
        epochs=mp.epochs,
        batch_size=mp.batch_size,
        lr=mp.lr,
        seed=seed,
        device=device,
        progress=False,
    )
    return covariance_eigenvalues(encode_means(model, as_pixels(images, device)).cpu().numpy())


def main() -> None:
    """Search the grid upwards and print one row per weight tried."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="wae", help="a section of kind wae in params.yaml")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    mp = params.load().model(args.model)
    if mp.kind != "wae":
        raise SystemExit(f"error: {args.model} is of kind {mp.kind}, not wae")
    print(
        f"| {mp.name}.mmd_weight | largest eigenvalue | smallest eigenvalue | in [{LOW}, {HIGH}] |"
    )
    print("| --- | --- | --- | --- |")
    for i, weight in enumerate(GRID):
        start = time.monotonic()
        largest, smallest = eigenvalues_at(mp, weight, args.seed)
        print(f"{weight:g}: trained in {time.monotonic() - start:.0f} s", file=sys.stderr)
        passes = smallest >= LOW and largest <= HIGH
        print(f"| {weight:g} | {largest:.3f} | {smallest:.3f} | {'pass' if passes else 'fail'} |")
        sys.stdout.flush()
        if passes:
            if i == 0:
                print(f"the grid's smallest weight passes: extend GRID below {weight:g}")
                raise SystemExit(1)
            print(f"\nthe rule's weight: {weight:g}")
            return
    print("no weight of the grid passes: extend GRID upwards")
    raise SystemExit(1)


if __name__ == "__main__":
    main()

"""Stage `judge`: train one judge CNN per seed of `judge.seeds`, in one process, and measure each
on the test set. Judge-based measures of a map are means over these judges, with their spread."""

if not __package__:  # `python stages/judge.py`: the imports below need `python -m`
    raise SystemExit("error: run it from the repository root as `python -m stages.judge`")

import logging

import numpy as np
from dvclive import Live

from latentlab.core import paths
from latentlab.core.artifacts import save_arrays
from latentlab.core.fashion_mnist import load_split
from latentlab.core.paths import DATA_ROOT, JUDGE
from latentlab.judge.network import judge_images
from latentlab.judge.training import train_judge
from latentlab.nn.checkpoints import save_weights
from latentlab.nn.runtime import setup
from stages import log_written, stage_entry, stage_params

log = logging.getLogger("judge")


@stage_entry
def main() -> None:
    """Train the judges on the training set and measure each on the test set."""
    p, _ = stage_params(__doc__)
    j = p.judge
    runtime = setup(p.device, p.precision, log)
    train_images, train_labels = load_split(DATA_ROOT, "train", p.limit)
    test_images, test_labels = load_split(DATA_ROOT, "test", p.limit)
    curves = []  # every judge's epochs, for one plot with the seeds overlaid
    features = []  # every judge's features of the test images, for the measuring stages
    trained = {}  # saved once every judge has trained, so a diverged one leaves no judge behind
    with Live(str(JUDGE), dvcyaml=None, save_dvc_exp=False) as live:
        for i, seed in enumerate(j.seeds, 1):
            log.info("judge %d/%d (seed %d) on %d images", i, len(j.seeds), seed, len(train_images))
            model, history = train_judge(
                train_images,
                train_labels,
                channels=j.channels,
                epochs=j.epochs,
                batch_size=j.batch_size,
                lr=j.lr,
                seed=seed,
                runtime=runtime,
            )
            for row in history:
                live.step = row["epoch"]
                live.log_metric(f"seed{seed}/loss", row["loss"])
                curves.append({"epoch": row["epoch"], "seed": seed, "loss": row["loss"]})
            with runtime.autocast():
                probs, test_features = judge_images(model, test_images)
            features.append(test_features)
            test_accuracy = float(np.mean(probs.argmax(axis=1) == test_labels))
            live.summary[f"seed{seed}"] = {
                "loss": history[-1]["loss"],
                "test_accuracy": test_accuracy,
            }
            log.info("judge seed %d: test accuracy %.4f", seed, test_accuracy)
            trained[seed] = model
        for seed, model in trained.items():
            save_weights(model, paths.judge_weights(seed))
        save_arrays(paths.JUDGE_FEATURES, seeds=np.array(j.seeds), features=np.stack(features))
        live.log_plot(
            "loss",
            curves,
            x="epoch",
            y="loss",
            template="seeds",
            title="judges: train cross-entropy, by seed",
        )
    log_written(
        log, JUDGE / "models", paths.JUDGE_FEATURES, JUDGE / "metrics.json", JUDGE / "plots"
    )


if __name__ == "__main__":
    main()

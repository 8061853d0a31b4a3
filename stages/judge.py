"""Stage `judge`: train the CNN that classifies decoded tiles, and report its test accuracy."""

import logging

from latentlab import params
from latentlab.artifacts import write_csv, write_json
from latentlab.checkpoints import save_weights
from latentlab.errors import stage_entry
from latentlab.fashion_mnist import load_split
from latentlab.judge import accuracy, train_judge
from latentlab.paths import DATA_ROOT, JUDGE
from latentlab.training import resolve_device

log = logging.getLogger("judge")


@stage_entry
def main() -> None:
    """Train the judge on the training set and measure it on the test set."""
    p = params.load()
    j = p.judge
    device = resolve_device(p.device)
    train_images, train_labels = load_split(DATA_ROOT, "train", p.limit)
    test_images, test_labels = load_split(DATA_ROOT, "test", p.limit)
    log.info("training the judge on %d images on %s", len(train_images), device)
    model, history = train_judge(
        train_images,
        train_labels,
        channels=j.channels,
        epochs=j.epochs,
        batch_size=j.batch_size,
        lr=j.lr,
        seed=j.seed,
        device=str(device),
    )
    test_accuracy = accuracy(model, test_images, test_labels)
    log.info("judge test accuracy %.4f", test_accuracy)
    save_weights(model, JUDGE / "model.pt")
    write_csv(JUDGE / "train_curve.csv", history)
    write_json(JUDGE / "metrics.json", {"test_accuracy": test_accuracy})


if __name__ == "__main__":
    main()

"""Where every stage reads and writes: one function per artifact.

dvc.yaml declares each stage's output folders (tests/test_dvc_yaml.py checks them against these
functions). Every output of the stages between validate and the report is kept in DVC's cache
(dvc.lock records it); git tracks the report's files.
"""

from __future__ import annotations

from pathlib import Path

DATA_ROOT = Path("data/raw")
RUNS = Path("runs")
MAPS = Path("maps")
REPORTS = Path("reports")
FIGURES = REPORTS / "figures"
JUDGE = RUNS / "judge"
JUDGE_FEATURES = JUDGE / "features.npz"  # every judge's features of the test images
REAL_BALLS = JUDGE / "balls.npz"  # every judge's k-NN balls of subsets of the test images
CALIBRATION = JUDGE / "calibration.json"  # the map measures of images of known realism
VALIDATED = RUNS / "params.ok"
HEADLINE = REPORTS / "metrics.json"
VERDICTS = REPORTS / "verdicts.json"  # each claim's verdict, per VAE and autoencoder
SUMMARY = REPORTS / "summary.csv"


def judge_weights(seed: int) -> Path:
    """One judge's state dict."""
    return JUDGE / "models" / f"seed{seed}.pt"


def train_dir(model: str) -> Path:
    """The model's training log (DVCLive): metrics.json, plots/metrics, plots/images."""
    return RUNS / model / "train"


def weights(model: str, seed: int) -> Path:
    """The state dict of a model trained with one seed."""
    return RUNS / model / "models" / f"seed{seed}.pt"


def progress_image(model: str, seed: int, epoch: int) -> Path:
    """The map a model decoded after one training epoch (DVCLive's image, step = epoch)."""
    return train_dir(model) / "plots" / "images" / f"seed{seed}" / "map" / f"{epoch}.png"


def eval_metrics(model: str, seed: int) -> Path:
    """Test-set measures of one run."""
    return RUNS / model / "evaluate" / f"seed{seed}.json"


def codes(model: str, seed: int) -> Path:
    """Test codes and labels of one run, with one reconstructed test image per class."""
    return RUNS / model / "codes" / f"seed{seed}.npz"


def map_metrics(model: str, seed: int) -> Path:
    """Measures of one run's maps (the lab's square and the model's own)."""
    return RUNS / model / "render" / f"seed{seed}.json"


def map_file(model: str, seed: int, suffix: str, square: str = "lab") -> Path:
    """One run's map: `.png` image or `.npz` arrays; `square` is "lab" or "own"."""
    return MAPS / model / f"seed{seed}{'' if square == 'lab' else '_' + square}{suffix}"


def path_metrics(model: str, seed: int) -> Path:
    """Measures of one run's straight paths between test images."""
    return RUNS / model / "interpolate" / f"seed{seed}.json"


def path_strips(model: str, seed: int) -> Path:
    """The decoded strips of the first few paths, with their real endpoint images; every path's
    pair of test images and its value of the measures that are means over paths."""
    return RUNS / model / "strips" / f"seed{seed}.npz"


def figure(name: str) -> Path:
    """A figure of the report."""
    return FIGURES / f"{name}.png"

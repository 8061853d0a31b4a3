"""The interpolate stage's work: decode straight paths between the codes of real test images of
different classes, and measure how evenly and how realistically the images change along them.

The codes are the test codes the evaluate stage wrote (the VAE's posterior means), so the paths
run between where real items are encoded; the pairs depend only on the test labels and a seed,
so every model is measured on the same pairs.
"""

from __future__ import annotations

import numpy as np
import torch

from latentlab.analysis import realism, transitions
from latentlab.analysis.metrics import record
from latentlab.core.fashion_mnist import IMAGE_SIDE
from latentlab.nn.models import LatentModel


@torch.no_grad()
def decode_paths(
    model: LatentModel, codes: np.ndarray, pairs: np.ndarray, steps: int
) -> np.ndarray:
    """Images along each pair's straight path: pairs x (steps + 1) x 28 x 28, endpoints included."""
    z = transitions.line_codes(codes[pairs[:, 0]], codes[pairs[:, 1]], steps)
    device = next(model.parameters()).device
    flat = model.decode(torch.from_numpy(z.reshape(-1, z.shape[-1])).to(device)).cpu().numpy()
    return flat.reshape(len(pairs), steps + 1, IMAGE_SIDE, IMAGE_SIDE)


def path_measures(
    images: np.ndarray,
    judged: list[tuple[np.ndarray, np.ndarray]],
    real_balls: list[list[realism.Balls]],
) -> tuple[dict, dict[str, np.ndarray]]:
    """Evenness of every path (mean over paths), and per judge: the precision of the middle
    images and the mean number of class changes along a path; second, each path's own value of
    the measures that are means over paths (the report's noise floor for them).

    `judged` holds each judge's (probabilities, features) of all path images, flattened path by
    path; `real_balls` each judge's k-NN balls of each subset of the test images.
    """
    n, length = images.shape[:2]
    middle = np.zeros((n, length), dtype=bool)
    middle[:, 1:-1] = True
    precision, changes = [], []
    for (probs, features), balls in zip(judged, real_balls, strict=True):
        r = realism.subset_realism(balls, features[middle.ravel()])
        precision.append(r["precision"])
        classes = probs.argmax(axis=1).reshape(n, length)
        changes.append(float(transitions.class_changes(classes).mean()))
    per_path = {"path_evenness": transitions.evenness(images)}
    measured = {
        "path_evenness": float(per_path["path_evenness"].mean()),
        "path_middle_precision": precision,
        "path_class_changes": changes,
    }
    return record("interpolate", measured), per_path

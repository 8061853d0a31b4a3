"""Transitions along straight paths in a latent space, between the codes of two real items.

A path's decoded images should change evenly if the space is smooth: evenness is the largest
step's share of the path's total pixel change (1 / steps when every step changes the image by
the same amount, 1 when the whole change happens in one step).
"""

from __future__ import annotations

import numpy as np


def pick_pairs(labels: np.ndarray, pairs: int, seed: int) -> np.ndarray:
    """`pairs` x 2 indices of test images of different classes, drawn with `seed`: they depend on
    the labels and the seed only, so every model is measured on the same pairs."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise ValueError("the images hold a single class, so no pair of different classes exists")
    rng = np.random.default_rng(seed)
    chosen: list[np.ndarray] = []
    found = 0
    while found < pairs:
        draw = rng.integers(0, len(labels), size=(2 * pairs, 2))
        draw = draw[labels[draw[:, 0]] != labels[draw[:, 1]]]
        chosen.append(draw)
        found += len(draw)
    return np.concatenate(chosen)[:pairs]


def line_codes(start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    """Codes along straight lines: N x (steps + 1) x d, from `start` (N x d) to `end` (N x d)."""
    t = np.linspace(0.0, 1.0, steps + 1)[None, :, None]
    start = np.asarray(start, dtype=np.float64)[:, None, :]
    end = np.asarray(end, dtype=np.float64)[:, None, :]
    return ((1 - t) * start + t * end).astype(np.float32)


def evenness(images: np.ndarray) -> np.ndarray:
    """Per path, the largest step's share of the total pixel change (Euclidean), for images
    N x (steps + 1) x pixels...; a path whose image never changes counts as even (1 / steps)."""
    images = np.asarray(images, dtype=np.float64)
    flat = images.reshape(images.shape[0], images.shape[1], -1)
    change = np.linalg.norm(np.diff(flat, axis=1), axis=-1)
    total = change.sum(axis=1)
    steps = change.shape[1]
    return np.divide(
        change.max(axis=1), total, out=np.full(len(total), 1.0 / steps), where=total > 0
    )


def class_changes(classes: np.ndarray) -> np.ndarray:
    """Per path, how many times the class (N x (steps + 1) integers) changes along it."""
    classes = np.asarray(classes)
    return (classes[:, 1:] != classes[:, :-1]).sum(axis=1)

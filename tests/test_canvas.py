"""The figures' layout engine (latentlab/report/canvas.py): where a map's ticks go, how they
read."""

from __future__ import annotations

import numpy as np

from latentlab.report import canvas

MINUS = "\N{MINUS SIGN}"


def test_map_tick_labels() -> None:
    assert canvas.tick_indices(21) == [0, 5, 10, 15, 20]
    assert canvas.tick_indices(5) == [0, 1, 2, 3, 4]
    assert canvas.tick_indices(3) == [0, 1, 2]
    indices = canvas.tick_indices(12)
    assert indices[0] == 0 and indices[-1] == 11
    assert indices == [11 - i for i in reversed(indices)]  # symmetric about the middle
    assert canvas.tick_indices(11) == [0, 2, 4, 6, 8, 10]
    assert canvas.tick_indices(6) == [0, 1, 2, 3, 4, 5]
    _, labels = canvas.map_ticks(np.linspace(-3.1416, 3.1416, 21))
    assert labels == [f"{MINUS}3.14", f"{MINUS}1.57", "0", "1.57", "3.14"]
    _, labels = canvas.map_ticks(np.linspace(4, -4, 21))  # z2, top to bottom
    assert labels == ["4", "2", "0", f"{MINUS}2", f"{MINUS}4"]
    _, labels = canvas.map_ticks(np.linspace(-2.5, 2.5, 11))
    assert labels == [f"{MINUS}2.5", f"{MINUS}1.5", f"{MINUS}0.5", "0.5", "1.5", "2.5"]

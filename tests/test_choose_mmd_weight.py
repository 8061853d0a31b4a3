"""scripts/choose_mmd_weight.py: the rule's search over its grid, with the training stubbed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from scripts import choose_mmd_weight as choose

REPO = Path(__file__).resolve().parents[1]


def search(monkeypatch, eigenvalues: dict[float, tuple[float, float]]) -> list[float]:
    """Make the script's training give `eigenvalues` (weight -> largest, smallest); the list
    that will hold the weights it trains, in order."""
    tried = []

    def trained(mp, weight, seed):
        tried.append(weight)
        return eigenvalues[weight]

    monkeypatch.chdir(REPO)
    monkeypatch.setattr(choose, "eigenvalues_at", trained)
    monkeypatch.setattr(sys, "argv", ["choose_mmd_weight"])
    return tried


def test_the_search_stops_at_the_first_weight_whose_eigenvalues_lie_in_the_band(
    monkeypatch, capsys
):
    tried = search(monkeypatch, {1.0: (8.7, 2.8), 3.0: (2.01, 1.3), 10.0: (2.0, 0.5)})
    choose.main()
    assert tried == [1.0, 3.0, 10.0]  # 10 passes on the band's edges, nothing above is trained
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[0] == "| wae.mmd_weight | largest eigenvalue | smallest eigenvalue | in [0.5, 2.0] |"
    )
    assert lines[2:5] == [
        "| 1 | 8.700 | 2.800 | fail |",
        "| 3 | 2.010 | 1.300 | fail |",
        "| 10 | 2.000 | 0.500 | pass |",
    ]
    assert lines[-1] == "the rule's weight: 10"


@pytest.mark.parametrize(
    ("eigenvalues", "words"),
    [
        ({1.0: (1.0, 1.0)}, "extend GRID below 1"),
        ({w: (3.0, 0.2) for w in choose.GRID}, "extend GRID upwards"),
    ],
    ids=["smallest-passes", "none-passes"],
)
def test_a_grid_that_does_not_bracket_the_rule_s_weight_is_refused(
    monkeypatch, capsys, eigenvalues, words
):
    search(monkeypatch, eigenvalues)
    with pytest.raises(SystemExit) as info:
        choose.main()
    assert info.value.code == 1 and words in capsys.readouterr().out

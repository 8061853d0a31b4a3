"""scripts/code_measures.py: which stages a one-file edit stales, read from dvc.yaml, and the
lengths of functions."""

from __future__ import annotations

from pathlib import Path

import yaml

from scripts import code_measures
from scripts.code_measures import concrete_stages, function_lengths, staled_by

REPO = Path(__file__).resolve().parents[1]

PIPELINE = {
    "vars": [{"models": ["ae", "vae"]}],
    "stages": {
        "fetch": {"cmd": "x", "deps": ["stages/fetch.py", "latentlab/core"]},
        "train": {
            "foreach": "${models}",
            "do": {"cmd": "x ${item}", "deps": ["latentlab/core/paths.py", "runs/${item}/data"]},
        },
    },
}


def test_foreach_stages_are_one_per_model():
    stages = concrete_stages(PIPELINE)
    assert list(stages) == ["fetch", "train@ae", "train@vae"]
    assert stages["train@vae"] == (
        "vae",
        {"cmd": "x vae", "deps": ["latentlab/core/paths.py", "runs/vae/data"]},
    )


def test_a_file_stales_the_stages_that_list_it_or_a_folder_above_it():
    files = ["latentlab/core/paths.py", "latentlab/core/errors.py", "latentlab/corefile.py"]
    assert staled_by(PIPELINE, files) == {
        "latentlab/core/paths.py": ["fetch", "train@ae", "train@vae"],
        "latentlab/core/errors.py": ["fetch"],
        "latentlab/corefile.py": [],  # a name that starts like a folder is not inside it
    }


def test_function_lengths_count_from_def_to_last_line_nested_ones_too():
    source = (
        "def f():\n    def g():\n        pass\n\n    return g\n\n"
        "class A:\n    def h(self):\n        pass\n"
    )
    assert sorted(function_lengths(source)) == [("f", 5), ("g", 2), ("h", 2)]


def test_rewording_a_label_stales_only_the_report():
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    labels = "latentlab/report/labels.py"
    assert staled_by(pipeline, [labels]) == {labels: ["report"]}


def test_the_script_prints_the_three_measures(capsys):
    code_measures.main([])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("a one-file edit in latentlab/ stales ")
    assert out[1].startswith("biggest file: latentlab/") and out[2].startswith("longest function: ")

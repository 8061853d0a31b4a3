"""latentlab/core/dvc_run.py without DVC: which params a stage watches, read as DVC reads them,
and which edits count as a change. test_pipeline.py runs it under `dvc repro`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO, write_params

from latentlab.core import dvc_run


@pytest.fixture
def scratch(tmp_path: Path, repo_params: dict, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding the repository's dvc.yaml and params.yaml, as the working directory."""
    shutil.copy2(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    write_params(tmp_path, repo_params)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def edit(folder: Path, key: str, value: object) -> None:
    params = yaml.safe_load((folder / "params.yaml").read_text())
    section, _, field = key.rpartition(".")
    (params[section] if section else params)[field] = value
    write_params(folder, params)


@pytest.mark.parametrize(
    ("stage", "keys"),
    [
        ("train@vae", ["vae", "seeds", "data.limit", "device", "precision", "progress_map"]),
        ("judge", ["judge", "data.limit", "device", "precision"]),
        ("download", ["data.sources"]),
        ("report", None),  # the whole file
        ("validate", None),
        ("no-such-stage", []),
        ("train", []),  # a foreach stage without its item is no stage
    ],
)
def test_a_stage_watches_the_params_dvc_yaml_lists_for_it(scratch, stage, keys):
    assert dvc_run.stage_param_keys(stage) == keys


@pytest.mark.parametrize(
    ("key", "value", "changed"),
    [
        ("ae.lr", 0.003, ["ae"]),
        ("data.limit", 0.0, ["data.limit"]),  # 0 -> 0.0: dvc.lock would say 0.0
        ("seeds", [1, 2, 3], []),  # the same value written again
        ("report.figure_dpi", 80, []),  # not a param of train@ae
        ("vae.lr", 0.003, []),
    ],
)
def test_only_an_edit_of_a_watched_param_is_a_change(scratch, key, value, changed):
    before = dvc_run.snapshot("train@ae")
    edit(scratch, key, value)
    assert dvc_run.changed_params(before) == changed


def test_true_for_one_is_a_change(scratch):
    """Python takes True == 1; DVC would record `true`, so it is a change."""
    edit(scratch, "ae.epochs", 1)
    before = dvc_run.snapshot("train@ae")
    edit(scratch, "ae.epochs", True)
    assert dvc_run.changed_params(before) == ["ae"]


def test_a_whole_file_stage_sees_any_edit_and_a_removed_file(scratch):
    before = dvc_run.snapshot("report")
    edit(scratch, "report.figure_dpi", 80)
    assert dvc_run.changed_params(before) == ["report"]
    (scratch / "params.yaml").unlink()
    assert dvc_run.changed_params(before) == sorted(before.values)  # every key


def test_params_are_read_as_dvc_reads_them(scratch):
    """YAML 1.2: 0755 is the integer 755 (PyYAML's YAML 1.1 reads 493), as dvc.lock records it."""
    text = (scratch / "params.yaml").read_text().replace("limit: 0", "limit: 0755")
    (scratch / "params.yaml").write_text(text)
    assert dvc_run.snapshot("judge").values["data.limit"] == 755

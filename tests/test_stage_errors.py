"""Stages as DVC runs them: a user's mistake ends in one `error:` line and exit status 2.

The first tests run real stage scripts as subprocesses in a scratch repository (see stage_dir in
conftest.py); each costs a few seconds of torch import, so there are few of them. The last test
runs every stage in process.
"""

from __future__ import annotations

import importlib
import sys

import pytest
import yaml
from conftest import quick_params, write_params

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def single_error_line(stderr: str) -> str:
    """The whole of stderr, which must be one line starting with `error:`."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def final_error_line(stderr: str) -> str:
    """The one `error:` line of a stage that logged progress first; it must come last."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    errors = [line for line in lines if "error" in line.lower()]
    assert len(errors) == 1, stderr
    assert lines[-1] == errors[0] and errors[0].startswith("error: ")
    return errors[0]


def test_bad_param(stage_dir, run_stage, repo_params):
    p = quick_params(repo_params)
    p["vae"]["lr"] = -0.001
    write_params(stage_dir, p)
    result = run_stage(stage_dir, "train", "vae", "1")
    assert result.returncode == 2
    line = single_error_line(result.stderr)
    assert line == "error: params.yaml: vae.lr is -0.001, but it must be a positive number"
    assert not (stage_dir / "runs").exists()


def test_train_before_download(stage_dir, run_stage):
    (stage_dir / "data" / "raw").unlink()  # the data folder the download stage would make
    result = run_stage(stage_dir, "train", "vae", "1")
    assert result.returncode == 2
    line = single_error_line(result.stderr)
    assert "data/raw/FashionMNIST/raw/train-images-idx3-ubyte is missing" in line
    assert "dvc repro download" in line
    assert not (stage_dir / "runs").exists()


def test_diverging_training_writes_no_model(stage_dir, run_stage, repo_params):
    p = quick_params(repo_params)
    p["vae"].update(lr=1e6, hidden=[16])  # a small VAE: it diverges as surely, and sooner
    write_params(stage_dir, p)
    result = run_stage(stage_dir, "train", "vae", "1")
    assert result.returncode == 2
    line = final_error_line(result.stderr)
    assert line.startswith("error: vae diverged: the loss is ")
    assert "at epoch 1, batch " in line and "vae.lr" in line
    run = stage_dir / "runs" / "vae" / "seed1"
    assert not (run / "model.pt").exists()
    assert not (run / "train.json").exists() and not (run / "train_curve.csv").exists()


def test_render_with_a_corrupted_model(stage_dir, run_stage, repo_params):
    from latentlab.checkpoints import save_weights
    from latentlab.judge import Judge

    save_weights(Judge(repo_params["judge"]["channels"]), stage_dir / "runs/judge/model.pt")
    run = stage_dir / "runs" / "vae" / "seed1"
    run.mkdir(parents=True)
    (run / "model.pt").write_bytes(b"this is not a model\x00\x01" * 64)
    result = run_stage(stage_dir, "render", "vae")
    assert result.returncode == 2
    line = single_error_line(result.stderr)
    assert "runs/vae/seed1/model.pt" in line
    assert "dvc repro --force" in line
    assert not (stage_dir / "maps").exists()  # no map, image or measures


def test_download_with_no_good_source(stage_dir, run_stage, repo_params, tmp_path):
    empty = tmp_path / "empty-source"
    empty.mkdir()
    p = quick_params(repo_params)
    p["data"]["sources"] = [str(empty)]
    write_params(stage_dir, p)
    (stage_dir / "data" / "raw").unlink()
    result = run_stage(stage_dir, "download")
    assert result.returncode == 2
    line = final_error_line(result.stderr)
    assert str(empty) in line and "apt-get install dataset-fashion-mnist" in line
    assert not list((stage_dir / "data").rglob("*-ubyte"))


STAGES = [
    ("download", []),
    ("train", ["vae", "1"]),
    ("render", ["vae"]),
    ("judge", []),
    ("evaluate", ["vae", "1"]),
    ("report", []),
]


@pytest.mark.parametrize(("stage", "args"), STAGES, ids=[s for s, _ in STAGES])
def test_every_stage_checks_params_first(stage, args, tmp_path, monkeypatch, capsys, repo_params):
    """In process: a bad value anywhere in params.yaml stops every stage before any work."""
    module = importlib.import_module(f"stages.{stage}")
    p = yaml.safe_load(yaml.safe_dump(repo_params))
    p["latent_map"]["grid"] = 1
    write_params(tmp_path, p)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [stage, *args])
    with pytest.raises(SystemExit) as info:
        module.main()
    assert info.value.code == 2
    captured = capsys.readouterr()
    line = single_error_line(captured.err)
    assert line == "error: params.yaml: latent_map.grid is 1, but it must be an integer >= 2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]

"""Stages as DVC runs them: honest command-line programs, and a user's mistake ends in one
`error:` line and exit status 2, before any work.

The first tests run real stage scripts as subprocesses in a scratch repository (see stage_dir in
conftest.py); each costs a few seconds of torch import, so there are few of them. The last tests
run every stage in process.
"""

from __future__ import annotations

import gzip
import importlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import MODELS, REPO, quick_params, write_params

from latentlab import balls
from latentlab.core import params, paths
from latentlab.core.errors import UserError
from latentlab.core.fashion_mnist import raw_dir
from latentlab.core.params import NO_CUDA
from latentlab.training import DivergedError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STAGES = {
    "validate": [],
    "download": [],
    "judge": [],
    "balls": [],
    "calibrate": [],
    "train": ["vae"],
    "evaluate": ["vae"],
    "render": ["vae"],
    "interpolate": ["vae"],
    "report": [],
}


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
    result = run_stage(stage_dir, "train", "vae")
    assert result.returncode == 2
    line = single_error_line(result.stderr)
    assert line == (
        "error: params.yaml: vae.lr is -0.001, but it must be a positive number, at most 1"
    )
    assert not (stage_dir / "runs").exists()


def test_train_before_download(stage_dir, run_stage):
    (stage_dir / "data" / "raw").unlink()  # the data folder the download stage would make
    result = run_stage(stage_dir, "train", "vae")
    assert result.returncode == 2
    line = single_error_line(result.stderr)
    assert "data/raw/FashionMNIST/raw/train-images-idx3-ubyte is missing" in line
    assert "dvc repro download" in line
    assert not (stage_dir / "runs").exists()


def test_diverging_training_writes_no_model(stage_dir, run_stage, repo_params):
    p = quick_params(repo_params)
    p["vae"].update(lr=1.0, hidden=[16])  # the largest lr allowed: a small VAE diverges at once
    write_params(stage_dir, p)
    result = run_stage(stage_dir, "train", "vae")
    assert result.returncode == 2
    line = final_error_line(result.stderr)
    assert line.startswith("error: vae seed 1 diverged: the loss is ")
    assert "at epoch 1, batch " in line and "vae.lr" in line
    assert not (stage_dir / paths.weights("vae", 1)).exists()


def test_a_diverging_seed_leaves_no_model_of_any_seed(stage_dir, repo_params, monkeypatch, capsys):
    """In process, seed 2 made to diverge once every seed trained an epoch: no seed's weights
    are written, though seed 1's model is trained in memory."""
    module = importlib.import_module("stages.train")
    p = quick_params(repo_params)
    p["seeds"] = [1, 2]
    write_params(stage_dir, p)
    trained = []

    def train(models, images, **kwargs):
        real_train(models, images, **kwargs)
        trained.extend(models)
        raise DivergedError("vae seed 2 diverged: the loss is nan at epoch 1, batch 1")

    real_train = module.train
    monkeypatch.setattr(module, "train", train)
    monkeypatch.chdir(stage_dir)
    monkeypatch.setattr(sys, "argv", ["train", "vae"])
    with pytest.raises(SystemExit) as info:
        module.main()
    assert info.value.code == 2 and trained == [1, 2]
    assert final_error_line(capsys.readouterr().err).startswith("error: vae seed 2 diverged")
    models = stage_dir / paths.weights("vae", 1).parent
    assert not models.exists() or not any(models.iterdir())


def test_a_later_judge_diverging_leaves_no_judge_of_the_earlier_ones(
    stage_dir, repo_params, monkeypatch, capsys
):
    """In process, judge 2 made to diverge after judge 1 trained: no judge's weights are written."""
    module = importlib.import_module("stages.judge")
    p = quick_params(repo_params)
    p["judge"]["seeds"] = [1, 2]
    write_params(stage_dir, p)
    trained = []

    def train_judge(*args, **kwargs):
        if kwargs["seed"] == 2:
            raise UserError("the judge of seed 2 diverged: its loss is nan in epoch 1")
        trained.append(kwargs["seed"])
        return real_train_judge(*args, **kwargs)

    real_train_judge = module.train_judge
    monkeypatch.setattr(module, "train_judge", train_judge)
    monkeypatch.chdir(stage_dir)
    monkeypatch.setattr(sys, "argv", ["judge"])
    with pytest.raises(SystemExit) as info:
        module.main()
    assert info.value.code == 2 and trained == [1]
    assert final_error_line(capsys.readouterr().err).startswith("error: the judge of seed 2")
    models = stage_dir / paths.judge_weights(1).parent
    assert not models.exists() or not any(models.iterdir())


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["gan"], f"unknown model 'gan'; dvc.yaml declares the models {', '.join(MODELS)}\n"),
        (["../runs"], "unknown model '../runs'"),
        (["vae", "7"], "unrecognized arguments: 7"),  # seeds come from params.yaml only
    ],
)
def test_a_model_or_seed_not_in_the_pipeline_is_refused(stage_dir, run_stage, args, words):
    result = run_stage(stage_dir, "train", *args)
    assert result.returncode == 2
    assert words in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert not (stage_dir / "runs").exists()


def test_data_damaged_in_place_is_refused_where_it_is_used(stage_dir, run_stage, raw_root):
    """The same size, one byte changed: only the MD5 tells, and every reading stage checks it."""
    data = stage_dir / "data" / "raw"
    data.unlink()
    shutil.copytree(raw_root, data)
    damaged = data / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte"
    content = bytearray(damaged.read_bytes())
    content[5000] ^= 0xFF
    damaged.write_bytes(bytes(content))
    result = run_stage(stage_dir, "judge")
    assert result.returncode == 2
    line = final_error_line(result.stderr)
    assert "t10k-images-idx3-ubyte does not match the published MD5" in line
    assert "dvc checkout" in line
    assert not (stage_dir / "runs").exists()


def test_render_with_a_corrupted_model(stage_dir, run_stage, repo_params):
    from latentlab.core.artifacts import save_arrays
    from latentlab.judge.network import Judge
    from latentlab.nn.checkpoints import save_weights

    channels = repo_params["judge"]["channels"]
    save_weights(Judge(channels), stage_dir / paths.judge_weights(1))
    features = np.zeros((1, 256, 8 * channels), dtype=np.float32)
    save_arrays(stage_dir / paths.JUDGE_FEATURES, seeds=np.array([1]), features=features)
    p = params.load(stage_dir / "params.yaml", REPO / "dvc.yaml")
    save_arrays(stage_dir / paths.REAL_BALLS, **balls.draw(p, features))
    weights = stage_dir / paths.weights("vae", 1)
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"this is not a model\x00\x01" * 64)
    result = run_stage(stage_dir, "render", "vae")
    assert result.returncode == 2
    line = final_error_line(result.stderr)
    assert "runs/vae/models/seed1.pt" in line and "dvc repro --force" in line
    assert not (stage_dir / "maps").exists()


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


def own_data(stage_dir: Path, raw_root: Path) -> Path:
    """A private copy of the verified data in the scratch repository (not the session's link),
    for a stage that writes there; its raw folder."""
    data = stage_dir / "data" / "raw"
    data.unlink()
    shutil.copytree(raw_root, data)
    return raw_dir(data)


def gzip_bomb(path: Path, size: int) -> None:
    """A valid gzip file of `size` zero bytes, about a thousandth of that on disk."""
    member = gzip.compress(bytes(10 << 20), mtime=0)  # 10 MiB in about 10 KiB
    with path.open("wb") as f:
        for _ in range(size // (10 << 20)):
            f.write(member)  # gzip reads concatenated members as one stream


@pytest.mark.parametrize(
    ("attack", "reason"),
    [
        ("etc", "/etc/train-images-idx3-ubyte.gz or /etc/train-images-idx3-ubyte is not there"),
        ("gzip-bomb", "train-images-idx3-ubyte.gz holds more bytes, not the published 47040016"),
        ("sparse-3GB", "train-images-idx3-ubyte has 3000000000 bytes, not the published 47040016"),
    ],
    ids=["etc", "gzip-bomb", "sparse-3GB"],
)
def test_a_source_that_fails_leaves_the_data_as_it_was(
    attack, reason, stage_dir, run_stage, repo_params, raw_root, tmp_path
):
    """The download stage run directly: nothing is copied past the published sizes (a write over
    64 MiB would kill it), and the four verified files stay, not even replaced."""
    folder = own_data(stage_dir, raw_root)
    before = {p.name: (p.stat().st_ino, p.read_bytes()) for p in folder.iterdir()}
    source = Path("/etc") if attack == "etc" else tmp_path / "source"
    if attack == "gzip-bomb":
        source.mkdir()
        gzip_bomb(source / "train-images-idx3-ubyte.gz", 2_500_000_000)
    elif attack == "sparse-3GB":
        source.mkdir()
        with (source / "train-images-idx3-ubyte").open("wb") as f:
            f.truncate(3_000_000_000)
    p = quick_params(repo_params)
    p["data"]["sources"] = [str(source)]
    write_params(stage_dir, p)
    result = run_stage(stage_dir, "download", max_file_size=64 << 20)
    assert result.returncode == 2, result.stderr
    assert final_error_line(result.stderr).startswith("error: no source gave all four")
    assert reason in result.stderr
    assert {p.name: (p.stat().st_ino, p.read_bytes()) for p in folder.iterdir()} == before


def test_a_full_disk_is_one_line_and_leaves_no_file(stage_dir):
    """The validate stage writing onto a full filesystem (a tmpfs in a mount namespace)."""
    runs = stage_dir / "runs"
    runs.mkdir()
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {runs}"],
        capture_output=True,
        text=True,
    )
    if probe.returncode:
        pytest.skip(f"cannot mount a small tmpfs here (unshare -rm: {probe.stderr.strip()})")
    script = (
        f"mount -t tmpfs -o size=64k tmpfs runs && (head -c 1M /dev/zero > runs/filler; true) && "
        f"{sys.executable} -m stages.validate; status=$?; ls -A runs >&2; exit $status"
    )
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], cwd=stage_dir, capture_output=True, text=True
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr and lines[-1] == "filler"  # nothing else written
    assert [line for line in lines if line.startswith("error")] == [
        "error: no space left on the device to write runs/params.ok, so it was not written; "
        "free some and rerun the stage"
    ]


def test_ctrl_c_is_one_line(stage_dir, repo_params):
    p = quick_params(repo_params)
    p["vae"]["epochs"] = 1000
    write_params(stage_dir, p)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stages.train", "vae"],
        cwd=stage_dir,
        env={**env, "OMP_NUM_THREADS": "1"},
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = ""
    for line in proc.stderr:
        seen += line
        if "vae epoch 2/1000" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, seen + rest
    assert final_error_line(rest) == "error: interrupted by Ctrl-C; rerun the stage to finish it"
    assert not (stage_dir / paths.weights("vae", 1)).exists()


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stage_run_as_a_file_says_how_to_run_it(stage, stage_dir):
    result = subprocess.run(
        [sys.executable, f"stages/{stage}.py", *STAGES[stage]],
        cwd=stage_dir,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert single_error_line(result.stderr) == (
        f"error: run it from the repository root as `python -m stages.{stage}`"
    )
    assert not (stage_dir / "runs").exists()


def test_paths_on_codes_of_another_data_limit(stage_dir, run_stage, repo_params):
    """Codes of 300 test images where data.limit gives 256: refused before any path is decoded."""
    from latentlab.core.artifacts import save_arrays
    from latentlab.judge.network import Judge
    from latentlab.nn.checkpoints import save_weights
    from latentlab.nn.models import build_model

    p = quick_params(repo_params)
    channels, vae = p["judge"]["channels"], p["vae"]
    save_weights(Judge(channels), stage_dir / paths.judge_weights(1))
    features = np.random.default_rng(0).random((1, 256, 8 * channels), dtype=np.float32)
    save_arrays(stage_dir / paths.JUDGE_FEATURES, seeds=np.array([1]), features=features)
    model = build_model(vae["kind"], vae["latent_dim"], vae["hidden"])
    save_weights(model, stage_dir / paths.weights("vae", 1))
    save_arrays(stage_dir / paths.codes("vae", 1), codes=np.zeros((300, 2), dtype=np.float32))
    result = run_stage(stage_dir, "interpolate", "vae")
    assert result.returncode == 2
    assert final_error_line(result.stderr) == (
        "error: runs/vae/codes/seed1.npz holds codes of shape (300, 2), not one 2-D code for "
        "each of the 256 test images that data.limit 256 gives; rerun `dvc repro evaluate@vae`"
    )
    assert not (stage_dir / paths.path_metrics("vae", 1)).exists()


def _scratch(tmp_path, params) -> None:
    write_params(tmp_path, params)
    shutil.copy2(REPO / "dvc.yaml", tmp_path / "dvc.yaml")


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_help_prints_usage_and_does_nothing(stage, tmp_path, monkeypatch, capsys, repo_params):
    module = importlib.import_module(f"stages.{stage}")
    _scratch(tmp_path, repo_params)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [stage, "--help"])
    with pytest.raises(SystemExit) as info:
        module.main()
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ")
    assert (module.__doc__ or "").split("\n")[0][:40] in out.replace("\n", " ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dvc.yaml", "params.yaml"]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_stage_checks_params_first(stage, tmp_path, monkeypatch, capsys, repo_params):
    """In process: a bad value anywhere in params.yaml stops every stage before any work."""
    module = importlib.import_module(f"stages.{stage}")
    p = yaml.safe_load(yaml.safe_dump(repo_params))
    p["latent_map"]["grid"] = 1
    _scratch(tmp_path, p)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [stage, *STAGES[stage]])
    with pytest.raises(SystemExit) as info:
        module.main()
    assert info.value.code == 2
    line = single_error_line(capsys.readouterr().err)
    assert line.startswith("error: params.yaml: latent_map.grid is 1, but it must be an integer")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dvc.yaml", "params.yaml"]


@pytest.mark.parametrize("visible", [True, False])
def test_validate_refuses_cuda_where_torch_sees_no_gpu(
    visible, tmp_path, monkeypatch, capsys, repo_params
):
    import torch

    module = importlib.import_module("stages.validate")
    p = yaml.safe_load(yaml.safe_dump(repo_params))
    p["device"] = "cuda"
    _scratch(tmp_path, p)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["validate"])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: visible)
    if visible:
        module.main()
        assert (tmp_path / paths.VALIDATED).is_file()
        return
    with pytest.raises(SystemExit) as info:
        module.main()
    assert info.value.code == 2
    line = single_error_line(capsys.readouterr().err)
    assert line == f"error: {NO_CUDA}" and "device is 'cuda'" in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("report.models", ["ae", "vae", "x; touch owned; echo"], "report.models[2]"),
        ("report.models", ["ae", "../runs"], "report.models[1] is '../runs'"),
        ("evaluate.knn_k", 1000000, "evaluate.knn_k is 1000000"),
        ("report.figure_dpi", 100000, "report.figure_dpi is 100000"),
        ("latent_map.range", 1e300, "latent_map.range is 1e+300"),
        # Sources the download would fail on after DVC removed the data (a file, a folder
        # without the four files, nothing that exists) are refused first.
        ("data.sources", ["/etc/hostname"], "data.sources[0] is '/etc/hostname', but it must be"),
        ("data.sources", ["/nowhere", "/etc"], "data.sources[1] is '/etc', but it must be a"),
        ("data.sources", ["/nowhere"], "data.sources is ['/nowhere'], but none of them exists"),
    ],
)
def test_validate_refuses_before_any_other_stage(
    key, value, words, tmp_path, monkeypatch, capsys, repo_params
):
    module = importlib.import_module("stages.validate")
    p = yaml.safe_load(yaml.safe_dump(repo_params))
    section, field = key.split(".")
    p[section][field] = value
    _scratch(tmp_path, p)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["validate"])
    with pytest.raises(SystemExit) as info:
        module.main()
    assert info.value.code == 2
    assert words in single_error_line(capsys.readouterr().err)
    assert not (tmp_path / "runs").exists()

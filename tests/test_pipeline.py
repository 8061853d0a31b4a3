"""End to end: the real DVC pipeline on a small configuration, in a throwaway copy of the repo."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DATA = Path("/usr/share/datasets/fashion-mnist")
SMALL = {"limit": 1000, "seeds": [1, 2], "epochs": 1, "judge_epochs": 1, "iw_samples": 5}

pytestmark = pytest.mark.skipif(
    not (DATA / "train-images-idx3-ubyte.gz").exists(),
    reason=f"Fashion-MNIST is not installed in {DATA} (apt-get install dataset-fashion-mnist)",
)


def env() -> dict[str, str]:
    """This interpreter's environment first on PATH, since the stages' commands call `python`."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command; with `check`, a failure shows its output."""
    result = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{cmd} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def dvc(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dvc", *args], cwd, check)


def git(*args: str, cwd: Path) -> None:
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd)


def make_small_copy(dest: Path) -> Path:
    """A git repository holding this working tree's project files, with small params."""
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], REPO).stdout
    for rel in listed.splitlines():
        src = REPO / rel
        # Results of the committed default run are not inputs; the small run makes its own.
        if src.is_file() and not rel.startswith(("runs/", "reports/", "dvc.lock", "benchmarks/")):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["data"]["limit"] = SMALL["limit"]
    params["seeds"] = SMALL["seeds"]
    for model in params["models"]:
        params[model]["epochs"] = SMALL["epochs"]
    params["judge"]["epochs"] = SMALL["judge_epochs"]
    params["evaluate"]["iw_samples"] = SMALL["iw_samples"]
    write_params(dest, params)
    git("init", "-q", cwd=dest)
    git("add", "-A", cwd=dest)
    git("commit", "-qm", "small", cwd=dest)
    return dest


def write_params(repo: Path, params: dict) -> None:
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def edit_params(repo: Path, section: str, key: str, value: object) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params[section][key] = value
    write_params(repo, params)


def file_md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def stale_stages(repo: Path) -> set[str]:
    return set(json.loads(dvc("status", "--json", cwd=repo).stdout))


def stage_names(models: list[str], stages: tuple[str, ...] = ("train", "evaluate", "render")):
    """Per run: train and evaluate; per model: render."""
    seeds = SMALL["seeds"]
    per_run = {f"{s}@{m}-{seed}" for s in stages if s != "render" for m in models for seed in seeds}
    return per_run | {f"render@{m}" for m in models if "render" in stages}


def output_hashes(repo: Path) -> dict[str, str]:
    """md5 of every stage output, as recorded in dvc.lock."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {o["path"]: o.get("md5", "") for s in lock["stages"].values() for o in s.get("outs", [])}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_small_copy(tmp_path_factory.mktemp("pipeline"))
    dvc("repro", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "small run", cwd=repo)
    return repo


MODELS = ["ae", "vae", "ae_wide"]


def test_every_stage_ran_and_wrote_its_outputs(pipeline: Path) -> None:
    lock = yaml.safe_load((pipeline / "dvc.lock").read_text())["stages"]
    expected = {"download", "judge", "report"} | stage_names(MODELS)
    assert set(lock) == expected
    for stage in lock.values():
        for out in stage["outs"]:
            assert (pipeline / out["path"]).exists(), out["path"]
    for model in MODELS:
        for seed in SMALL["seeds"]:
            png = Image.open(pipeline / f"maps/{model}/seed{seed}.png")
            assert png.size == (588, 588) and png.mode == "L"
            with np.load(pipeline / f"maps/{model}/seed{seed}.npz") as arrays:
                assert arrays["z"].shape == (21, 21, 2)
                assert arrays["tiles"].shape == (21, 21, 28, 28)
    report = (pipeline / "reports/report.md").read_text()
    assert "figures/latent_maps.png" in report and "verdict" in report
    for figure in ("latent_maps", "training_curves", "tile_classes", "codes_vae"):
        assert (pipeline / f"reports/figures/{figure}.png").stat().st_size > 10_000


def test_second_repro_runs_nothing(pipeline: Path) -> None:
    out = dvc("repro", cwd=pipeline).stdout
    assert "Running stage" not in out
    assert stale_stages(pipeline) == set()


def test_metrics_and_params_commands_work(pipeline: Path) -> None:
    metrics = json.loads(dvc("metrics", "show", "--json", cwd=pipeline).stdout)
    files = next(iter(metrics.values()))["data"]
    assert "runs/vae/seed1/eval.json" in files and "reports/summary.json" in files
    edit_params(pipeline, "latent_map", "grid", 5)
    diff = json.loads(dvc("params", "diff", "--json", cwd=pipeline).stdout)
    assert diff["params.yaml"]["latent_map.grid"]["new"] == 5
    run(["git", "checkout", "params.yaml"], pipeline)


def test_vae_param_reruns_only_vae_stages_and_report(pipeline: Path) -> None:
    edit_params(pipeline, "vae", "epochs", 2)
    try:
        assert stale_stages(pipeline) == stage_names(["vae"]) | {"report"}
    finally:
        run(["git", "checkout", "params.yaml"], pipeline)


def test_latent_map_param_reruns_no_training(pipeline: Path) -> None:
    edit_params(pipeline, "latent_map", "range", 3)
    try:
        # Only the maps and what is measured on them: no training, no test-set evaluation.
        assert stale_stages(pipeline) == stage_names(MODELS, ("render",)) | {"report"}
    finally:
        run(["git", "checkout", "params.yaml"], pipeline)


def test_figure_styling_reruns_only_the_report(pipeline: Path) -> None:
    edit_params(pipeline, "report", "figure_dpi", 80)
    try:
        assert stale_stages(pipeline) == {"report"}
    finally:
        run(["git", "checkout", "params.yaml"], pipeline)


def test_killed_training_resumes_to_identical_outputs(pipeline: Path, tmp_path: Path) -> None:
    repo = tmp_path / "killed"
    shutil.copytree(pipeline, repo, symlinks=True)
    edit_params(repo, "vae", "epochs", 40)  # long enough to be killed mid-training
    dvc("repro", cwd=repo)
    reference = output_hashes(repo)

    # --force: really retrain (a plain repro would check the reference outputs out of the cache).
    retrain = ["repro", "--force", "--single-item", "train@vae-1", "train@vae-2"]
    log_path = tmp_path / "repro.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "dvc", *retrain], cwd=repo, env=env(),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while "vae epoch 2/40" not in log_path.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not list(repo.glob("runs/**/.*.tmp")), "a killed stage left a temporary file"
    # DVC removes a stage's outputs before running it; what must never be there is half a file.
    model = repo / "runs/vae/seed1/model.pt"
    assert not model.exists() or file_md5(model) == reference["runs/vae/seed1/model.pt"]

    dvc(*retrain, cwd=repo)
    dvc("repro", cwd=repo)
    assert output_hashes(repo) == reference
    assert stale_stages(repo) == set()


def test_push_clone_pull_regenerates_report_without_training(
    pipeline: Path, tmp_path: Path
) -> None:
    remote = tmp_path / "remote"
    dvc("remote", "add", "-d", "shared", str(remote), cwd=pipeline)
    dvc("push", cwd=pipeline)
    git("commit", "-qam", "remote", cwd=pipeline)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(pipeline), str(clone)], tmp_path)
    dvc("pull", cwd=clone)
    assert stale_stages(clone) == set()

    figures = {p.name: p.read_bytes() for p in (clone / "reports/figures").iterdir()}
    shutil.rmtree(clone / "reports/figures")
    out = dvc("repro", cwd=clone).stdout
    assert "Running stage 'report'" in out
    assert "Running stage 'train" not in out and "Running stage 'judge'" not in out
    assert {p.name: p.read_bytes() for p in (clone / "reports/figures").iterdir()} == figures


def test_concurrent_repro_fails_fast_with_the_lock_message(pipeline: Path) -> None:
    first = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", "--force", "report"],
        cwd=pipeline,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(1.5)  # the first holds the repository lock while the report stage runs
    started = time.monotonic()
    second = dvc("repro", "report", cwd=pipeline, check=False)
    assert time.monotonic() - started < 15
    assert second.returncode != 0
    assert "lock" in (second.stdout + second.stderr).lower()
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 0, out
    assert stale_stages(pipeline) == set()

"""Shared fixtures: the real Fashion-MNIST fetched once, default params, and stage runners."""

from __future__ import annotations

import copy
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from latentlab import download
from latentlab.core import fashion_mnist, params

REPO = Path(__file__).resolve().parents[1]
DATASET_DIR = Path("/usr/share/datasets/fashion-mnist")
SMALL = 512  # images for the quick training tests
MODELS = tuple(params.declared_models(REPO / "dvc.yaml"))


def require_dataset() -> None:
    """Skip the calling test when Debian's Fashion-MNIST is not installed."""
    missing = [f.name for f in fashion_mnist.FILES if not (DATASET_DIR / f"{f.name}.gz").is_file()]
    if missing:
        pytest.skip(
            f"Fashion-MNIST is not installed in {DATASET_DIR} (missing {', '.join(missing)}); "
            f"install it with `apt-get install dataset-fashion-mnist`"
        )


@pytest.fixture(scope="session")
def dataset_dir() -> Path:
    """Debian's folder of the four .gz files (the test is skipped when it is missing)."""
    require_dataset()
    return DATASET_DIR


@pytest.fixture(scope="session")
def raw_root(tmp_path_factory: pytest.TempPathFactory, dataset_dir: Path) -> Path:
    """A root where download.fetch put the four verified files: load_split(raw_root, ...)."""
    root = tmp_path_factory.mktemp("fashion-mnist-root")
    download.fetch([str(dataset_dir)], root)
    return root


@pytest.fixture(scope="session")
def raw_bytes(raw_root: Path) -> dict[str, bytes]:
    """The decompressed contents of the four files, by file name (read once per session)."""
    folder = fashion_mnist.raw_dir(raw_root)
    return {f.name: (folder / f.name).read_bytes() for f in fashion_mnist.FILES}


@pytest.fixture(scope="session")
def small_train(raw_root: Path) -> tuple[np.ndarray, np.ndarray]:
    """The first SMALL training images (uint8 N x 28 x 28) and labels."""
    return fashion_mnist.load_split(raw_root, "train", SMALL)


@pytest.fixture(scope="session")
def repo_params() -> dict[str, Any]:
    """The repository's params.yaml as DVC reads it (do not mutate: use default_params)."""
    return params.read_yaml(REPO / "params.yaml")


@pytest.fixture
def default_params(repo_params: dict[str, Any]) -> dict[str, Any]:
    """A fresh, mutable copy of the repository's params."""
    return copy.deepcopy(repo_params)


def quick_params(base: dict[str, Any], **model_overrides: Any) -> dict[str, Any]:
    """Params for a fast stage run: a small data limit, CPU, one seed, one epoch per model."""
    p = copy.deepcopy(base)
    p["data"]["limit"] = 256
    p["device"] = "cpu"
    p["seeds"] = [1]
    p["judge"].update(seeds=[1], epochs=1)
    p["latent_map"]["grid"] = 5
    p["interpolate"].update(pairs=20, steps=4, shown=2)
    p["evaluate"]["iw_samples"] = 5
    for name in MODELS:
        p[name].update(epochs=1, batch_size=64)
        p[name].update(model_overrides)
    return p


@pytest.fixture
def stage_dir(tmp_path: Path, raw_root: Path, repo_params: dict[str, Any]) -> Path:
    """A scratch repository: copies of latentlab/, stages/ and dvc.yaml (which declares the
    models), quick params, the data linked in.

    Write another params.yaml into it to change the params; remove data/ to simulate a train
    stage run before the download stage.
    """
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "latentlab", tmp_path / "latentlab", ignore=ignore)
    shutil.copytree(REPO / "stages", tmp_path / "stages", ignore=ignore)
    shutil.copy2(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    write_params(tmp_path, quick_params(repo_params))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "raw").symlink_to(raw_root, target_is_directory=True)
    return tmp_path


def write_params(folder: Path, raw: dict[str, Any]) -> None:
    """Write `raw` as folder/params.yaml, as DVC reads it back."""
    (folder / "params.yaml").write_text(params.dump_yaml(raw))


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread: on small shared machines, thread hand-offs cost more than the
    tiny matrix products of these tests. Opt in per module with pytest.mark.usefixtures."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def run_stage() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `python -m stages.<name> args...` in a folder, as DVC would, without PYTHONPATH.

    The stage runs torch on one thread (OMP_NUM_THREADS=1), which is faster for small data;
    `max_file_size` bounds the size of any file it writes.
    """

    def run(
        folder: Path, name: str, *args: str, max_file_size: int | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["OMP_NUM_THREADS"] = "1"

        def limit() -> None:  # a write past it kills the stage (SIGXFSZ)
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_size, max_file_size))

        return subprocess.run(
            [sys.executable, "-m", f"stages.{name}", *args],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=limit if max_file_size else None,
        )

    return run


# The sweep and quick-run tests start from one small project, built once per session.
TINY_PARAMS = {
    "data.limit": 300,
    "device": "cpu",
    "seeds": [1],
    "judge.seeds": [1],
    "judge.epochs": 1,
    "latent_map.grid": 5,
    "progress_map.grid": 5,
    "interpolate.pairs": 20,
    "interpolate.steps": 4,
    "interpolate.shown": 2,
    "evaluate.iw_samples": 5,
    **{f"{m}.{k}": v for m in MODELS for k, v in (("epochs", 1), ("batch_size", 64))},
}
NOT_INPUTS = ("runs/", "maps/", "reports/", "dvc.lock", "benchmarks/")


def tool_env() -> dict[str, str]:
    """This interpreter's folder first on PATH (the stages' commands call `python`, the Makefile
    `dvc` and `python`), with no PYTHONPATH, so that a project copy imports its own code."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    }
    return {**env, "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}


def run_tool(cmd: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command with tool_env; a failure shows its output."""
    done = subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise AssertionError(f"{cmd} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


@pytest.fixture(scope="session")
def small_project(tmp_path_factory: pytest.TempPathFactory, dataset_dir: Path) -> Path:
    """A git repository of this working tree's project files with TINY_PARAMS, its pipeline run
    by `dvc repro` and committed: the baseline of the sweep and quick-run tests. Copy it with
    copy_project before using it."""
    dest = tmp_path_factory.mktemp("small-project")
    listed = run_tool(["git", "ls-files", "--cached", "--others", "--exclude-standard"], REPO)
    for rel in listed.stdout.splitlines():
        if (REPO / rel).is_file() and not rel.startswith(NOT_INPUTS):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    raw = params.read_yaml(dest / "params.yaml")
    for key, value in TINY_PARAMS.items():
        section, _, field = key.rpartition(".")
        (raw[section] if section else raw)[field] = value
    write_params(dest, raw)
    run_tool(["git", "init", "-q"], dest)
    run_tool(["git", "config", "user.name", "t"], dest)
    run_tool(["git", "config", "user.email", "t@t"], dest)
    run_tool(["git", "add", "-A"], dest)
    run_tool(["git", "commit", "-qm", "small project"], dest)
    run_tool([sys.executable, "-m", "dvc", "repro", "--quiet"], dest)
    run_tool(["git", "add", "-A"], dest)
    run_tool(["git", "commit", "-qm", "its run"], dest)
    return dest


def copy_project(source: Path, dest: Path) -> Path:
    """A copy of a project repository, its DVC cache included and DVC's temporary folder not."""
    shutil.copytree(
        source,
        dest,
        symlinks=True,
        ignore=lambda folder, names: ["tmp"] if Path(folder) == source / ".dvc" else [],
    )
    return dest

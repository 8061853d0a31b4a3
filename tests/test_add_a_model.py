"""The README's recipe for adding a model is all it takes: made in a scratch copy of the
repository (its results left out), the fast tests (`make test-fast`) pass there."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
NEW = "vae_small"
SECTION = f"""{NEW}:
  kind: vae
  latent_dim: 2
  hidden: [256]
  epochs: 10
  batch_size: 256
  lr: 0.001
  beta: 1

"""
RESULTS = ("runs/", "maps/", "reports/", "dvc.lock")  # the committed run's, remade by `make repro`

pytestmark = pytest.mark.e2e


def run(cmd: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A command with this interpreter's environment first on PATH, as the stages need."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def edit(path: Path, pattern: str, replacement: str) -> None:
    """Replace the one match of a multi-line pattern, as a user's editor would."""
    text, count = re.subn(pattern, replacement, path.read_text(), count=1, flags=re.M)
    assert count == 1, f"{path.name}: {pattern!r} is not where the README says"
    path.write_text(text)


def add_model(repo: Path) -> None:
    """The README's edits: dvc.yaml's vars, a params.yaml section, report.models, the Makefile's
    QUICK, then `make readme-graph` (run as its recipe, outside make's setup)."""
    edit(repo / "dvc.yaml", r"^(  - models: \[.*)\]", rf"\1, {NEW}]")
    edit(repo / "params.yaml", r"^(progress_map:)", SECTION + r"\1")
    edit(repo / "params.yaml", r"^(report:\n(?:  .*\n)*?  models: \[.*)\]", rf"\1, {NEW}]")
    edit(repo / "Makefile", r"^(QUICK := (?:.*\\\n)*.*)$", rf"\1 -S {NEW}.epochs=1")
    graph = run([sys.executable, "-m", "scripts.readme_graph"], repo)
    assert graph.returncode == 0, graph.stderr


def test_adding_a_model_by_the_readme_passes_the_fast_tests(tmp_path: Path) -> None:
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], REPO).stdout
    for rel in listed.splitlines():
        if (REPO / rel).is_file() and not rel.startswith(RESULTS):
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, tmp_path / rel)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    assert run([*git, "init", "-q"], tmp_path).returncode == 0  # DVC works in a git repository
    add_model(tmp_path)
    assert NEW in yaml.safe_load((tmp_path / "params.yaml").read_text())["report"]["models"]
    assert f'["train@{NEW}"]' in (tmp_path / "README.md").read_text()
    for args in (["add", "-A"], ["commit", "-qm", f"add {NEW}"]):
        assert run([*git, *args], tmp_path).returncode == 0
    fast = [sys.executable, "-m", "pytest", "-m", "not e2e", "-x", "-q", "-p", "no:cacheprovider"]
    tested = run(fast, tmp_path, timeout=1800)
    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr[-2000:]
    assert " passed" in tested.stdout.splitlines()[-1]

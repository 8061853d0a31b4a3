"""`make quick` leaves the workspace alone: it runs the workspace as it is (committed or not) in
a scratch clone that shares the DVC cache, and pushes the experiment back; killed midway, it
leaves every file of the workspace as it was, byte for byte and inode for inode."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import copy_project, run_tool, tool_env, write_params

from latentlab.core.params import read_yaml
from latentlab.sweep import experiments

pytestmark = pytest.mark.e2e
VENV = Path(sys.prefix)
VAE_STAGES = {"validate", "train@vae", "evaluate@vae", "render@vae", "interpolate@vae", "report"}


def workspace(repo: Path) -> dict[str, tuple[object, ...]]:
    """Every file outside .git and DVC's cache and temporary folder: its bytes, inode, mtime
    and mode (a link: its target), and git's view of the workspace."""
    state: dict[str, tuple[object, ...]] = {}
    skipped = {".git", ".dvc/cache", ".dvc/tmp"}
    for folder, dirs, files in os.walk(repo):
        dirs[:] = [
            d for d in dirs if (Path(folder) / d).relative_to(repo).as_posix() not in skipped
        ]
        for name in files:
            path = Path(folder) / name
            rel = path.relative_to(repo).as_posix()
            if path.is_symlink():
                state[rel] = ("link", os.readlink(path))
            else:
                st = path.stat()
                state[rel] = (path.read_bytes(), st.st_ino, st.st_mtime_ns, st.st_mode)
    git = [["status", "--porcelain", "--untracked-files=all"], ["stash", "list"],
           ["for-each-ref", "refs/stash"], ["rev-parse", "HEAD"]]  # fmt: skip
    for args in git:
        state[f"git {' '.join(args)}"] = (run_tool(["git", *args], repo).stdout,)
    return state


def make_quick(repo: Path, scratch: Path, *assignments: str, **popen: object):
    """`make quick` as a user runs it, with this test's virtualenv (no reinstall into it) and
    the scratch clones under `scratch`."""
    scratch.mkdir(exist_ok=True)
    cmd = ["make", "--no-print-directory", "quick", f"VENV={VENV}",
           f"--old-file={VENV / '.installed'}", *assignments]  # fmt: skip
    env = {**tool_env(), "TMPDIR": str(scratch)}
    if popen:
        return subprocess.Popen(cmd, cwd=repo, env=env, text=True, **popen)
    return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=900)


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"^Running stage '([^']+)'", output, flags=re.MULTILINE))


@pytest.fixture
def project(small_project: Path, tmp_path: Path) -> Path:
    return copy_project(small_project, tmp_path / "project")


def test_quick_runs_the_workspace_as_it_is_and_leaves_it_alone(project, tmp_path) -> None:
    params = read_yaml(project / "params.yaml")
    params["report"]["figure_dpi"] = 100  # an uncommitted edit
    write_params(project, params)
    (project / "notes.txt").write_text("an untracked file git does not ignore\n")
    (project / ".ignored.tmp").write_text("a file git ignores\n")
    before = workspace(project)
    scratch = tmp_path / "scratch"

    done = make_quick(project, scratch, "QUICK=", "NAME=q1", "ARGS=-S vae.lr=0.004")
    said = done.stdout + done.stderr
    assert done.returncode == 0, said[-3000:]
    assert "quick: experiment q1 is in this repository" in said
    assert workspace(project) == before
    assert list(scratch.glob("latentlab-run-*")) == []  # the clone is gone
    # Only what the point changes ran: everything else came out of the shared cache.
    assert stages_run(said) == VAE_STAGES

    exp = next(e for e in experiments.of_head(project) if e.name == "q1")
    assert exp.params["report.figure_dpi"] == 100 and exp.params["vae.lr"] == 0.004
    assert (
        experiments.file_at(project, exp.rev, "notes.txt") == (project / "notes.txt").read_bytes()
    )
    assert experiments.file_at(project, exp.rev, ".ignored.tmp") is None

    again = make_quick(project, scratch, "QUICK=", "NAME=q1")
    assert again.returncode != 0
    refusal = [line for line in again.stderr.splitlines() if line.startswith("error:")]
    assert refusal == [
        "error: an experiment named 'q1' exists already; choose another NAME or "
        "`dvc exp remove q1` first"
    ]
    assert "Running stage" not in again.stdout and list(scratch.glob("latentlab-run-*")) == []
    assert workspace(project) == before


def test_a_quick_run_killed_midway_leaves_the_workspace_byte_for_byte(project, tmp_path) -> None:
    params = read_yaml(project / "params.yaml")
    params["ae"]["lr"] = 0.002  # uncommitted: a stash-based run killed midway reverts it
    write_params(project, params)
    before = workspace(project)
    log = tmp_path / "quick.log"
    with log.open("w") as out:
        proc = make_quick(
            project, tmp_path / "scratch", "QUICK=-S vae.epochs=60", stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while "Running stage 'train@" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        time.sleep(1.0)  # into the training
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert workspace(project) == before


def test_a_second_quick_run_reruns_only_what_a_vae_change_touches(project, tmp_path) -> None:
    quick = "QUICK=-S data.limit=250"  # unlike the commit: every stage that reads it runs once
    first = make_quick(project, tmp_path / "scratch", quick)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    assert "train@ae" in stages_run(first.stdout)
    second = make_quick(project, tmp_path / "scratch", quick, "ARGS=-S vae.lr=0.003")
    assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
    assert stages_run(second.stdout) == VAE_STAGES

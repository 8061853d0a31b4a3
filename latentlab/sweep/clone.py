"""A scratch clone: one DVC experiment run beside a repository, never in its workspace.

DVC's own ways of running an experiment elsewhere go through the workspace: `dvc exp run
--temp` and `--queue` stash it and restore it (new inodes; a kill in between leaves the user's
edits only in refs/stash), and two `dvc exp run` in one workspace fail on its lock. So each run
here gets its own git clone of a commit in scratch space, with the workspace's uncommitted state
copied in when asked (`make quick`). The clone shares the repository's DVC cache (`cache.dir`):
`dvc checkout` brings in every output that the commit's dvc.lock names, so only the stages the
run changes are run, and what they make lands in the shared cache. The run ends with `dvc exp
push` to the repository (a git remote by path), where `dvc exp show` then lists it. The clone
is removed at the end, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from latentlab.core.errors import UserError

# DVC's closing words about the clone's workspace, which the user would take for their own.
_CLONE_ONLY = "Experiment results have been applied to your workspace."
# A Python traceback's last line, which says what went wrong in a stage that crashed.
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit): ")


class RunFailed(Exception):
    """A run that did not end in a pushed experiment; the message is the reason, in one line."""


@dataclass(frozen=True)
class Repository:
    """The repository a run starts from: its root, the commit to run and its DVC cache."""

    root: Path
    commit: str
    cache_dir: Path


def tool_env() -> dict[str, str]:
    """The environment for git and DVC: this interpreter's folder first on PATH, since the
    stages' commands call `python`; no PYTHONPATH, so that they import the clone's code; and
    unbuffered output, so that progress reaches the terminal or the log as it happens."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONUNBUFFERED"] = "1"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def dvc(*args: str) -> list[str]:
    """The command line of `dvc <args>` with this interpreter's DVC."""
    return [sys.executable, "-m", "dvc", *args]


def run_tool(cmd: Sequence[str], cwd: Path, what: str) -> str:
    """Run a git or DVC command and return its output; RunFailed with its last line if it
    fails."""
    done = subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True)
    if done.returncode != 0:
        said = done.stderr.strip() or done.stdout.strip() or f"exit status {done.returncode}"
        lines = said.splitlines()
        # DVC ends an unexpected error with a line of its support address, after the reason.
        errors = [line for line in lines if line.startswith("ERROR")]
        raise RunFailed(f"{what} failed: {(errors or lines)[-1]}")
    return done.stdout


def repository(path: Path) -> Repository:
    """The git repository holding `path`, its HEAD commit and its DVC cache; a UserError when
    there is no repository or no commit yet."""
    try:
        root = Path(run_tool(["git", "rev-parse", "--show-toplevel"], path, "git").strip())
        commit = run_tool(["git", "rev-parse", "--verify", "HEAD^{commit}"], root, "git").strip()
        cache = Path(run_tool(dvc("cache", "dir"), root, "dvc cache dir").strip())
    except RunFailed as err:
        raise UserError(f"{path} is not a DVC project with a commit: {err}") from None
    return Repository(root, commit, cache)


def _z_paths(output: str) -> list[str]:
    return [p for p in output.split("\0") if p]


def uncommitted(root: Path) -> tuple[list[str], list[str]]:
    """The tracked paths whose workspace state differs from HEAD (staged or not, deleted
    included) and the untracked paths that git does not ignore."""
    changed = run_tool(["git", "diff", "--name-only", "--no-renames", "-z", "HEAD"], root, "git")
    others = run_tool(["git", "ls-files", "--others", "--exclude-standard", "-z"], root, "git")
    return _z_paths(changed), _z_paths(others)


def copy_uncommitted(source: Path, clone: Path) -> int:
    """Make the clone's files what the workspace's are: copy every changed and untracked file
    (links as links), remove what the workspace deleted, and stage it all, since DVC commits
    staged files into an experiment and leaves unstaged new ones out. Returns the paths
    copied or removed."""
    changed, others = uncommitted(source)
    for rel in changed + others:
        src, dest = source / rel, clone / rel
        if os.path.lexists(dest):
            dest.unlink()
        if src.is_symlink():
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(src), dest)
        elif src.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
        # else: deleted in the workspace (a submodule's folder is not copied either)
    run_tool(["git", "add", "--all"], clone, "git add")
    return len(changed) + len(others)


def share_cache(clone: Path, cache_dir: Path) -> None:
    """Point the clone's DVC at the repository's cache. Links where the file system allows
    them (the clone is thrown away, so its files may be the cache's own); a hardlink lock,
    which works on NFS too, for scratch space without a node-local disk."""
    if '"' in str(cache_dir) or "\n" in str(cache_dir):
        raise RunFailed(f"the DVC cache path {str(cache_dir)!r} holds a quote or a newline")
    (clone / ".dvc" / "config.local").write_text(
        f'[cache]\n    dir = "{cache_dir}"\n    type = "reflink,hardlink,copy"\n'
        "[core]\n    hardlink_lock = true\n"
    )


@contextlib.contextmanager
def scratch_clone(
    repo: Repository, scratch: Path | None = None, workspace: bool = False
) -> Iterator[Path]:
    """A clone of `repo.commit` in a new folder under `scratch` (the temporary folder by
    default), sharing the repository's DVC cache, with its outputs checked out; with
    `workspace`, the workspace's uncommitted state copied in. Removed on leaving the block."""
    base = scratch if scratch is not None else Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    clone = Path(tempfile.mkdtemp(prefix="latentlab-run-", dir=base))
    try:
        run_tool(
            ["git", "clone", "--quiet", "--no-checkout", str(repo.root), str(clone)],
            base,
            f"git clone of {repo.root}",
        )
        run_tool(["git", "checkout", "--quiet", "--detach", repo.commit], clone, "git checkout")
        if workspace:
            copy_uncommitted(repo.root, clone)
        share_cache(clone, repo.cache_dir)
        # --allow-missing: an output the cache lacks is made again by its stage.
        run_tool(dvc("checkout", "--quiet", "--allow-missing"), clone, "dvc checkout")
        yield clone
    finally:
        shutil.rmtree(clone, ignore_errors=True)


def failure_reason(lines: Sequence[str], returncode: int) -> str:
    """One line saying why `dvc exp run` failed: the project's own `error:` sentence when a
    stage refused something; else DVC's first ERROR line, with the exception a stage died of."""
    for line in lines:
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    errors = [i for i, line in enumerate(lines) if line.startswith("ERROR: ")]
    if not errors:
        return f"dvc exp run exited with status {returncode}"
    reason = lines[errors[0]].removeprefix("ERROR: ")
    crashed = [line for line in lines[: errors[0]] if _EXCEPTION.match(line)]
    return f"{reason} ({crashed[-1]})" if crashed else reason


def run_experiment(
    clone: Path,
    args: Sequence[str],
    name: str | None = None,
    extra: Sequence[str] = (),
    out: TextIO = sys.stdout,
) -> str:
    """`dvc exp run` in the clone with these `-S` values (and `extra` options), its output
    passed on to `out` line by line; returns the experiment's name, RunFailed if it fails."""
    cmd = dvc("exp", "run", *(["--name", name] if name else []))
    cmd += [x for arg in args for x in ("--set-param", arg)] + list(extra)
    lines: list[str] = []
    with subprocess.Popen(
        cmd,
        cwd=clone,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if lines[-1] != _CLONE_ONLY:
                out.write(line)
                out.flush()
    if proc.returncode != 0:
        raise RunFailed(failure_reason(lines, proc.returncode))
    if name:
        return name
    names = run_tool(dvc("exp", "list", "--name-only"), clone, "dvc exp list").split()
    if len(names) != 1:
        raise RunFailed(f"the clone holds {len(names)} experiments, not the one it ran")
    return names[0]


def push_experiment(clone: Path, name: str) -> None:
    """`dvc exp push` of one experiment to the repository the clone came from. Its outputs are
    in the shared cache already, so only git's objects travel (--no-cache)."""
    run_tool(dvc("exp", "push", "--no-cache", "origin", name), clone, f"dvc exp push of {name}")

"""The pipeline as whole processes, in throwaway copies of the repository, as a user runs it.

A copy holds git's view of the working tree (tracked and untracked files that are not ignored),
or a revision's files from `git archive`, in a fresh git repository with a fresh DVC cache. The
results of the committed run (dvc.lock and the output folders) are left out, so that `dvc repro`
there starts from nothing. Each stage's time comes from DVC's log: from its "Running stage" line
to the next one (or to DVC's exit), so it includes DVC's own work for it (hashing, caching).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.procwatch import (
    StageProcess,
    StageWatcher,
    load_average,
    wait_for_quiet,
    with_others_share,
)
from latentlab.core.errors import UserError
from latentlab.core.params import declared_models, dump_yaml, read_yaml

REPO = Path(__file__).resolve().parents[1]
RESULT_DIRS = ("data", "runs", "maps", "reports")  # what the committed run wrote
# The tiny configuration of --smoke (each model's epochs are set to 1 besides). A revision that
# lacks one of these keys (an older params.yaml) keeps its own keys, untouched.
SMOKE: dict[str, Any] = {
    "data.limit": 500,
    "seeds": [1],
    "judge.seeds": [1],
    "judge.epochs": 1,
    "evaluate.iw_samples": 2,
    "interpolate.pairs": 10,
    "paths.pairs": 10,  # the same section's name before it was renamed (a3d5f98, the baseline)
}
RUNNING = re.compile(r"Running stage '([^']+)'")
# A commit identity of its own: the copy must commit whatever git config the machine has.
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
GIT += ["-c", "commit.gpgsign=false"]


def is_result(name: str) -> bool:
    """Whether a repository path (posix, relative) is a result of a run rather than its source."""
    return name == "dvc.lock" or name.split("/")[0] in RESULT_DIRS


def copy_worktree(dest: Path, repo: Path = REPO) -> None:
    """Git's view of `repo`'s working tree (tracked and untracked, not ignored), without results."""
    args = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    listed = subprocess.run(args, cwd=repo, capture_output=True, check=True).stdout
    for name in listed.decode().split("\0"):
        src = repo / name
        # Results are filtered while listing, not deleted after: a run in `repo` may be writing
        # them right now. A deleted but still tracked file is simply not there.
        if name and not is_result(name) and src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def resolve_revision(rev: str, repo: Path = REPO) -> str:
    """The full commit hash of `rev` in `repo`; ValueError if git knows no such commit."""
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if found.returncode:
        raise ValueError(f"git knows no commit {rev!r} in {repo}")
    return found.stdout.strip()


def copy_revision(rev: str, dest: Path, repo: Path = REPO) -> None:
    """The files of git revision `rev` of `repo` (`git archive rev | tar -x`), without results."""
    archive = subprocess.run(["git", "archive", rev], cwd=repo, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    for name in RESULT_DIRS:
        shutil.rmtree(dest / name, ignore_errors=True)
    (dest / "dvc.lock").unlink(missing_ok=True)


def commit_all(cwd: Path, message: str) -> None:
    """Commit everything git sees in `cwd`, creating the repository the first time."""
    if not (cwd / ".git").exists():
        subprocess.run([*GIT, "init", "-q"], cwd=cwd, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=cwd, check=True)
    subprocess.run([*GIT, "commit", "-q", "--allow-empty", "-m", message], cwd=cwd, check=True)


def set_params(path: Path, changes: dict[str, Any]) -> dict[str, str]:
    """Set dotted keys of a params file, leaving out keys it lacks; returns 'old -> new' per key.

    The file is read and rewritten as DVC reads it (its comments are lost; DVC compares values,
    not text).
    """
    raw = read_yaml(path)
    done = {}
    for key, value in changes.items():
        *parents, last = key.split(".")
        section = raw
        for part in parents:
            section = section.get(part) if isinstance(section, dict) else None
        if isinstance(section, dict) and last in section:
            done[key] = f"{section[last]} -> {value}"
            section[last] = value
    path.write_text(dump_yaml(raw))
    return done


def model_names(cwd: Path) -> list[str]:
    """The models of the pipeline in `cwd`: dvc.yaml's `vars: models`, or for an older revision
    without it, params.yaml's sections that have a `kind`."""
    try:
        return declared_models(cwd / "dvc.yaml")
    except UserError:
        raw = read_yaml(cwd / "params.yaml")
        return [k for k, v in raw.items() if isinstance(v, dict) and "kind" in v]


def shrink(cwd: Path) -> dict[str, str]:
    """Set the --smoke configuration in `cwd`'s params.yaml; returns what was changed."""
    epochs = {f"{name}.epochs": 1 for name in model_names(cwd)}
    return set_params(cwd / "params.yaml", {**SMOKE, **epochs})


def change_latent_range(params_file: Path) -> str:
    """Move latent_map.range one down (or up from 1 or less); returns 'old -> new'."""
    old = read_yaml(params_file)["latent_map"]["range"]
    new = old - 1 if old > 1 else old + 1
    return set_params(params_file, {"latent_map.range": new})["latent_map.range"]


def tool_env() -> dict[str, str]:
    """The environment for DVC and make: this interpreter's folder first on PATH (`python`,
    `dvc` are ours), output unbuffered (the log lines are the clock), no analytics."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env["DVC_NO_ANALYTICS"] = "1"
    return env


@dataclass
class Stage:
    """One stage a DVC run ran: its name, command, and seconds between DVC's log lines."""

    name: str
    started: float  # seconds after the command started
    command: str = ""
    seconds: float = 0.0

    @property
    def kind(self) -> str:
        """The stage's name before any foreach/matrix key: 'train' for 'train@vae'."""
        return self.name.split("@", 1)[0]


def stage_times(lines: list[tuple[float, str]], end: float) -> list[Stage]:
    """The stages of a DVC log given as (seconds after start, line), the last one ending at end."""
    stages: list[Stage] = []
    for at, line in lines:
        running = RUNNING.search(line)
        if running:
            stages.append(Stage(running.group(1), at))
        elif line.startswith("> ") and stages and not stages[-1].command:
            stages[-1].command = line[2:].strip()
    for i, stage in enumerate(stages):
        stage.seconds = (stages[i + 1].started if i + 1 < len(stages) else end) - stage.started
    return stages


@dataclass
class Run:
    """One timed command (dvc repro, make quick) with its stages."""

    seconds: float
    stages: list[Stage]
    output: str
    others: float = 0.0  # the share of all cores that other processes used meanwhile


def run_logged(args: list[str], cwd: Path, max_wait: float = 0.0) -> Run:
    """Run `args` in `cwd` after waiting up to max_wait s for a quiet machine; the stages of its
    DVC log. RuntimeError with the end of its output if it fails."""
    wait_for_quiet(max_wait)

    def run() -> Run:
        start = time.perf_counter()
        # Its own process group, so that an interrupted benchmark stops DVC and its stage too.
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=tool_env(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert process.stdout is not None
        lines = []
        try:
            for line in process.stdout:
                lines.append((time.perf_counter() - start, line))
            code = process.wait()
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait()
        seconds = time.perf_counter() - start
        output = "".join(line for _, line in lines)
        if code:
            raise RuntimeError(f"{' '.join(args)} failed in {cwd} (exit {code}):\n{output[-3000:]}")
        return Run(seconds, stage_times(lines, seconds), output)

    result, others = with_others_share(run)
    result.others = others
    return result


def dvc_repro(cwd: Path, max_wait: float = 0.0) -> Run:
    """A timed `dvc repro` in `cwd`."""
    return run_logged([sys.executable, "-m", "dvc", "repro"], cwd, max_wait)


def fingerprint(cwd: Path) -> dict[str, dict[str, str]]:
    """SHA-256 of dvc.lock and of every file under reports/: the workspace's results."""

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    lock = cwd / "dvc.lock"
    return {
        "dvc.lock": {"dvc.lock": digest(lock)} if lock.is_file() else {},
        "reports/": {
            p.relative_to(cwd).as_posix(): digest(p)
            for p in sorted((cwd / "reports").rglob("*"))
            if p.is_file()
        },
    }


@dataclass
class Quick:
    """`make quick` (a small experiment in a scratch clone of the workspace) and whether it
    left the workspace's results alone."""

    run: Run
    untouched: dict[str, bool]  # "dvc.lock", "reports/": unchanged by the quick loop


def quick_loop(cwd: Path, max_wait: float = 0.0) -> Quick:
    """Time `make quick` in `cwd` with this benchmark's virtualenv, creating nothing there."""
    venv = Path(sys.prefix)
    # VENV and PATH point make at our venv; --old-file keeps make from reinstalling into it even
    # when requirements.txt is newer than the venv's stamp.
    args = [
        "make",
        "--no-print-directory",
        "quick",
        f"VENV={venv}",
        f"--old-file={venv / '.installed'}",
    ]
    before = fingerprint(cwd)
    run = run_logged(args, cwd, max_wait)
    after = fingerprint(cwd)
    return Quick(run, {key: before[key] == after[key] for key in before})


def import_seconds(cwd: Path, module: str, calls: int = 3, then: str = "") -> float:
    """The fastest of `calls` fresh interpreters that only import `module` (and run `then`)."""
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        code = f"import {module}; {then}" if then else f"import {module}"
        subprocess.run([sys.executable, "-c", code], cwd=cwd, check=True)
        best = min(best, time.perf_counter() - start)
    return best


# The first torch.optim optimizer of a process imports torch._dynamo; torch's functional adam,
# which the project calls, does not.
MAKE_ADAM = "torch.optim.Adam([torch.zeros(1, requires_grad=True)], fused=True)"
OPTIMIZER_STAGES = ("train", "judge")  # the kinds of stage that build an optimizer


def adam_startup(cwd: Path, calls: int = 3) -> float:
    """Seconds a process spends on building its first torch.optim.Adam: a fresh interpreter
    that imports torch and builds one, less one that only imports torch (best of `calls`)."""
    return max(
        import_seconds(cwd, "torch", calls, MAKE_ADAM) - import_seconds(cwd, "torch", calls), 0.0
    )


@dataclass
class Pipeline:
    """The whole-process measurements."""

    full: Run
    processes: dict[str, StageProcess]
    noops: list[Run]
    change: str
    latent_map: Run
    quick: Quick
    imports: dict[str, float]
    loads: dict[str, str] = field(default_factory=dict)
    baseline: Run | None = None
    baseline_rev: str = ""  # the baseline's full commit hash
    # torch.optim.Adam's start-up seconds in one process, and the stages of the full repro that
    # would pay it
    adam_startup: tuple[float, int] | None = None


def prepare(cwd: Path, smoke: bool) -> None:
    """Shrink a fresh copy for --smoke and commit it, as a user's clone would be."""
    if smoke:
        print(
            f"  {cwd.name}: smoke params " + ", ".join(f"{k} {v}" for k, v in shrink(cwd).items())
        )
    commit_all(cwd, "benchmark copy")


def measure_pipeline(
    max_wait: float, baseline: str | None = None, smoke: bool = False, import_calls: int = 3
) -> Pipeline:
    """The full repro from nothing (watched), the baseline's, no-ops, a latent_map change, the
    quick loop and each stage module's import time."""
    with tempfile.TemporaryDirectory(prefix="latentlab-bench-") as tmp:
        copy = Path(tmp) / "current"
        copy.mkdir()
        copy_worktree(copy)
        prepare(copy, smoke)
        loads = {"before full repro": load_average()}
        print("  full dvc repro from nothing ...", flush=True)
        watcher = StageWatcher(copy)
        watcher.start()
        try:
            full = dvc_repro(copy, max_wait)
        finally:
            processes = watcher.stop()
        loads["after full repro"] = load_average()
        print(f"  full repro {full.seconds:.1f} s", flush=True)
        base = None
        if baseline:  # right after ours, so that both see the machine alike
            old = Path(tmp) / "baseline"
            old.mkdir()
            copy_revision(baseline, old)
            prepare(old, smoke)
            print(f"  full dvc repro of {baseline[:7]} from nothing ...", flush=True)
            base = dvc_repro(old, max_wait)
            shutil.rmtree(old)
            loads[f"after {baseline[:7]}'s repro"] = load_average()
            print(f"  {baseline[:7]}'s full repro {base.seconds:.1f} s", flush=True)
        print("  no-op dvc repro x3 ...", flush=True)
        noops = [dvc_repro(copy, max_wait) for _ in range(3)]
        change = change_latent_range(copy / "params.yaml")
        print(f"  latent_map.range {change} ...", flush=True)
        latent_map = dvc_repro(copy, max_wait)
        # The quick loop starts where a user would: the run's dvc.lock and results committed.
        commit_all(copy, "results of the benchmark's runs")
        loads["before quick loop"] = load_average()
        print(f"  latent_map change {latent_map.seconds:.1f} s; make quick ...", flush=True)
        quick = quick_loop(copy, max_wait)
        print(f"  quick loop {quick.run.seconds:.1f} s; import times ...", flush=True)
        modules = sorted(p.stem for p in (copy / "stages").glob("*.py") if p.stem != "__init__")
        imports = {}
        for module in modules:
            wait_for_quiet(max_wait)
            imports[module] = import_seconds(copy, f"stages.{module}", import_calls)
        wait_for_quiet(max_wait)
        adam = adam_startup(copy, import_calls)
        loads["after imports"] = load_average()
    optimizers = sum(s.kind in OPTIMIZER_STAGES for s in full.stages)
    return Pipeline(
        full,
        processes,
        noops,
        change,
        latent_map,
        quick,
        imports,
        loads,
        base,
        baseline or "",
        (adam, optimizers),
    )

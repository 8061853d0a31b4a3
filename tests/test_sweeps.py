"""`make sweep` on the small project: through DVC's own queue (ON=local) and as one job array on
a real single-node SLURM cluster started by the test (ON=slurm), then `make sweep-report`.

The cluster: munged with a key of random bytes, slurmctld and slurmd in the foreground with a
slurm.conf of the test's own (linuxproc process tracking, no task plugin, cons_tres on cores, no
accounting, root as SlurmUser, free ports, state and spool folders in the test's folder, the
node line from `slurmd -C`), waited on with `sinfo` and stopped with `scontrol shutdown`. Where
SLURM or munge is missing the SLURM test is skipped, saying why.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_project, tool_env
from PIL import Image

from latentlab.sweep import experiments, figures

pytestmark = pytest.mark.e2e
VENV = Path(sys.prefix)
GOOD = ["vae.lr=0.002", "vae.lr=0.003", "vae.lr=0.004"]
GRID = "GRID=-S vae.lr=0.002,0.003,0.004,-1"  # three points and a bad one
DAEMONS = {"munged": "/usr/sbin/munged", "slurmctld": "/usr/sbin/slurmctld",
           "slurmd": "/usr/sbin/slurmd"}  # fmt: skip
CLIENTS = ("sbatch", "squeue", "scontrol", "sinfo")


def make(repo: Path, target: str, env: dict[str, str], *assignments: str):
    """`make <target>` as a user runs it, with this test's virtualenv (no reinstall)."""
    cmd = ["make", "--no-print-directory", target, f"VENV={VENV}",
           f"--old-file={VENV / '.installed'}", *assignments]  # fmt: skip
    return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=1200)


def failed_with_status_1(done: subprocess.CompletedProcess[str]) -> bool:
    """make stops with its own status 2 when a recipe fails, and names the recipe's status."""
    return done.returncode == 2 and re.search(r"\] Error 1$", done.stderr.strip()) is not None


def lines_about(output: str, point: str) -> list[str]:
    return [line for line in output.splitlines() if re.search(rf"\b{re.escape(point)}\b", line)]


def finished(repo: Path) -> dict[str, experiments.Experiment]:
    return {e.name: e for e in experiments.of_head(repo) if e.state == experiments.DONE}


def test_a_grid_through_dvcs_queue_says_each_failure_and_runs_only_whats_missing(
    small_project: Path, tmp_path: Path
) -> None:
    repo = copy_project(small_project, tmp_path / "project")
    env = tool_env()
    done = make(repo, "sweep", env, "GRID=-S vae.lr=0.005,-2", "JOBS=2")
    said = done.stdout + done.stderr
    assert failed_with_status_1(done), said[-3000:]
    assert "FAILED  vae.lr=-2: params.yaml: vae.lr is -2" in said
    assert len([line for line in lines_about(said, "vae.lr=-2") if "FAILED" in line]) == 1
    assert "ok      vae.lr=0.005: experiment vae.lr=0.005" in said
    assert finished(repo)["vae.lr=0.005"].params["vae.lr"] == 0.005

    again = make(repo, "sweep", env, "GRID=-S vae.lr=0.005")
    assert again.returncode == 0, again.stderr
    assert "1 have an experiment, 0 are on their way, 0 to run" in again.stdout
    assert "queued" not in again.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slurm_conf(folder: Path, munge_socket: Path) -> str:
    node = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True)
    node_line = node.stdout.splitlines()[0]
    settings = {
        "ClusterName": "latentlab-test",
        "SlurmctldHost": socket.gethostname(),
        "SlurmctldPort": free_port(),
        "SlurmdPort": free_port(),
        "SlurmUser": "root",
        "SlurmdUser": "root",
        "AuthType": "auth/munge",
        "AuthInfo": f"socket={munge_socket}",
        "ProctrackType": "proctrack/linuxproc",
        "TaskPlugin": "task/none",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_Core",
        "AccountingStorageType": "accounting_storage/none",
        "JobAcctGatherType": "jobacct_gather/none",
        "StateSaveLocation": folder / "state",
        "SlurmdSpoolDir": folder / "spool",
        "SlurmctldPidFile": folder / "slurmctld.pid",
        "SlurmdPidFile": folder / "slurmd.pid",
        "SlurmctldLogFile": folder / "slurmctld.log",
        "SlurmdLogFile": folder / "slurmd.log",
        "ReturnToService": 2,
        "MpiDefault": "none",
        "MailProg": "/bin/true",
    }
    lines = [f"{k}={v}" for k, v in settings.items()]
    lines += [f"{node_line} State=UNKNOWN", "PartitionName=test Nodes=ALL Default=YES State=UP"]
    return "\n".join(lines) + "\n"


def wait_for(check, what: str, logs: list[Path], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            said = "\n".join(f"{p}:\n{p.read_text()[-2000:]}" for p in logs if p.exists())
            raise AssertionError(f"{what} within {timeout:.0f} s\n{said}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A single-node SLURM cluster on localhost; yields the environment that reaches it."""
    missing = [n for n, p in DAEMONS.items() if not os.access(p, os.X_OK)]
    missing += [c for c in CLIENTS if shutil.which(c) is None]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not found: the SLURM sweep test needs the Debian packages "
            "slurmctld, slurmd, slurm-client and munge (`make test INSTALL_SLURM=1`)"
        )
    if os.geteuid() != 0:
        pytest.skip("the test cluster runs slurmctld and slurmd as root (SlurmUser=root)")
    folder = tmp_path_factory.mktemp("slurm")
    for sub in ("munge", "state", "spool"):
        (folder / sub).mkdir()
    (folder / "munge").chmod(0o755)  # munged refuses a key in a folder others may write
    key = folder / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    sock = folder / "munge" / "munge.socket"
    conf = folder / "slurm.conf"
    env = {**tool_env(), "SLURM_CONF": str(conf)}
    logs = [folder / "munged.log", folder / "slurmctld.log", folder / "slurmd.log"]
    daemons = [subprocess.Popen(
        ["munged", "-F", "--force", f"--socket={sock}", f"--key-file={key}",
         f"--pid-file={folder / 'munge' / 'munged.pid'}", f"--log-file={logs[0]}",
         f"--seed-file={folder / 'munge' / 'seed'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )]  # fmt: skip
    try:
        wait_for(sock.exists, "munged did not make its socket", logs)
        conf.write_text(slurm_conf(folder, sock))
        for daemon in ("slurmctld", "slurmd"):
            daemons.append(subprocess.Popen(
                [daemon, "-D"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            ))  # fmt: skip

        def idle() -> bool:
            info = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True)
            return info.stdout.strip() == b"idle"

        wait_for(idle, "the node did not come up idle", logs)
        yield env
    finally:
        subprocess.run(["scontrol", "shutdown"], env=env, capture_output=True, timeout=30)
        for proc in reversed(daemons):  # slurmd, slurmctld (which stop), then munged
            if proc.args[0] == "munged":
                proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def scontrol_job(env: dict[str, str], job: str) -> dict[str, str]:
    shown = subprocess.run(["scontrol", "--oneliner", "show", "job", job], env=env,
                           capture_output=True, text=True)  # fmt: skip
    return dict(re.findall(r"(\w+)=(\S*)", shown.stdout.splitlines()[0]))


def job_ids(env: dict[str, str]) -> set[str]:
    shown = subprocess.run(["scontrol", "--oneliner", "show", "jobs"], env=env,
                           capture_output=True, text=True)  # fmt: skip
    return set(re.findall(r"^JobId=(\d+)", shown.stdout, flags=re.MULTILINE))


def test_a_grid_as_one_slurm_job_array(cluster, small_project: Path, tmp_path: Path) -> None:
    repo = copy_project(small_project, tmp_path / "project")
    (repo / "slurm.yaml").write_text("time: '00:20:00'\n")  # sbatch options from a config file
    scratch = tmp_path / "node-scratch"
    scratch.mkdir()
    env = {**cluster, "TMPDIR": str(scratch)}  # the tasks' node-local scratch
    done = make(repo, "sweep", env, "ON=slurm", "JOBS=2", GRID, "SBATCH=--cpus-per-task=1")
    said = done.stdout + done.stderr
    assert failed_with_status_1(done), said[-4000:]

    # One job array, two tasks at once, with the options of the file and the command line.
    job = re.search(r"^submitted job (\d+): 4 tasks, at most 2 at once", said, re.MULTILINE)
    assert job, said[-4000:]
    shown = scontrol_job(cluster, job.group(1))
    assert shown["ArrayTaskThrottle"] == "2" and shown["TimeLimit"] == "00:20:00"
    # The bad point: one line naming it and the reason; the others finished.
    assert lines_about(said, "vae.lr=-1")[-1] == (
        "FAILED  vae.lr=-1: params.yaml: vae.lr is -1, but it must be a positive number, at most 1"
    )
    exps = finished(repo)
    assert {name: exps[name].params["vae.lr"] for name in GOOD} == {
        "vae.lr=0.002": 0.002, "vae.lr=0.003": 0.003, "vae.lr=0.004": 0.004,
    }  # fmt: skip
    assert "vae.lr=-1" not in exps
    # Each task worked in a clone in its scratch, now gone, and shared the repository's cache.
    assert list(scratch.glob("latentlab-run-*")) == []
    for name in GOOD:
        lock = experiments.file_at(repo, exps[name].rev, "dvc.lock").decode()
        model = re.search(r"path: runs/vae/models\n\s+hash: md5\n\s+md5: (\w+)\.dir", lock)
        assert model, lock[:2000]
        md5 = model.group(1)
        assert (repo / ".dvc/cache/files/md5" / md5[:2] / f"{md5[2:]}.dir").is_file()

    report = make(repo, "sweep-report", env, GRID)
    assert report.returncode == 0, report.stderr
    page = (repo / "reports/sweep/report.md").read_text()
    assert "No finished experiment yet for: vae.lr=-1." in page
    for name in GOOD:
        assert f"| {name} " in page.split("### vae", 1)[1]
    strip = np.asarray(Image.open(repo / "reports/sweep/maps_vae.png"))
    left, top = 0, figures.LABEL_PX + 8
    for name in GOOD:  # along vae.lr, each map pixel for pixel
        data = experiments.file_at(repo, exps[name].rev, "reports/figures/map_vae.png")
        original = np.asarray(Image.open(io.BytesIO(data)))
        h, w = original.shape
        assert np.array_equal(strip[top : top + h, left : left + w], original)
        left += w + figures.GAP_PX

    jobs_before = job_ids(cluster)
    again = make(repo, "sweep", env, "ON=slurm", "GRID=-S vae.lr=0.002,0.003,0.004")
    assert again.returncode == 0, again.stderr
    assert "3 have an experiment, 0 are on their way, 0 to run" in again.stdout
    assert job_ids(cluster) == jobs_before  # nothing submitted

"""A sweep's grid, names, sbatch options and how a failed point is said: against DVC's own
expansion (`dvc exp run --queue`) and git's ref rules, without running any pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_tool

from latentlab.core.errors import UserError
from latentlab.sweep import clone, experiments, grid, slurm

GRID = ["a.x=1,2", "b=choice(p,q)", "c=range(0,3)", "d=[1,2],[3]", "other.yaml:k=5"]


def dvc(repo: Path, *args: str) -> str:
    return run_tool([sys.executable, "-m", "dvc", *args], repo).stdout


@pytest.fixture
def toy_repo(tmp_path: Path) -> Path:
    """A git + DVC repository with two params files and one stage that reads them."""
    (tmp_path / "params.yaml").write_text("a:\n  x: 0\nb: o\nc: 9\nd: []\n")
    (tmp_path / "other.yaml").write_text("k: 0\n")
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  s:\n    cmd: echo\n    params: [a, b, c, d, other.yaml: [k]]\n"
    )
    for cmd in (["git", "init", "-q"], ["git", "config", "user.name", "t"],
                ["git", "config", "user.email", "t@t"]):  # fmt: skip
        run_tool(cmd, tmp_path)
    dvc(tmp_path, "init", "-q")
    run_tool(["git", "add", "-A"], tmp_path)
    run_tool(["git", "commit", "-qm", "toy"], tmp_path)
    return tmp_path


def queued_params(repo: Path) -> list[str]:
    """The params of every queued experiment, as canonical JSON."""
    shown = json.loads(dvc(repo, "exp", "show", "--json"))
    return sorted(
        json.dumps(exp["revs"][0]["data"]["params"], sort_keys=True)
        for baseline in shown[1:]
        for exp in baseline["experiments"] or []
    )


def params_of(repo: Path, point: grid.Point, scratch: Path) -> str:
    """The params files after `dvc exp run -S` of the point's args, written by the function
    DVC's queue writes them with, as canonical JSON in `dvc exp show`'s shape."""
    from dvc.utils.cli_parse import to_path_overrides
    from dvc.utils.hydra import apply_overrides
    from dvc.utils.serialize import load_yaml

    overrides = to_path_overrides(point.args)
    written = {}
    for name in ("other.yaml", "params.yaml"):
        copy = scratch / name
        copy.write_text((repo / name).read_text())
        if name in overrides:
            apply_overrides(copy, overrides[name])
        written[name] = {"data": load_yaml(copy)}
    return json.dumps(written, sort_keys=True)


def test_the_grid_is_expanded_as_dvc_queues_it(toy_repo: Path, tmp_path: Path) -> None:
    points = grid.expand(GRID)
    assert len(points) == 2 * 2 * 3 * 2
    assert len({p.name for p in points}) == len(points)
    dvc(toy_repo, "exp", "run", "--queue", "--quiet", *[x for g in GRID for x in ("-S", g)])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert sorted(params_of(toy_repo, p, scratch) for p in points) == queued_params(toy_repo)


@pytest.mark.parametrize(
    "args",
    [
        ["vae.lr=0.001"],
        ["vae.lr=1e-3", "vae.epochs=2"],
        ["seeds=[1,2,3]"],
        ["report.models=[ae, vae]"],
        ["x='a b'"],
        ["~vae.x=null"],
        ["other.yaml:k=1"],
        ["a=..lock"],
        ["a=" + "9" * 300],
    ],
)
def test_a_points_name_is_a_valid_experiment_name(args: list[str]) -> None:
    name = grid.experiment_name(args)
    valid = subprocess.run(["git", "check-ref-format", f"refs/exps/00/00/{name}"])
    assert valid.returncode == 0 and "/" not in name and len(name) <= grid.MAX_NAME
    if args == ["vae.lr=0.001"]:
        assert name == "vae.lr=0.001"  # a plain point is named by itself


def test_names_that_had_to_change_stay_distinct() -> None:
    assert grid.experiment_name(["x='a b'"]) != grid.experiment_name(["x='a_b'"])
    assert grid.experiment_name(["d=[1,2]"]) != grid.experiment_name(["d=1,2"])


def test_swept_keys_are_those_with_more_than_one_value() -> None:
    points = grid.expand(["vae.lr=0.1,0.2", "vae.epochs=3", "seeds=[1],[2]"])
    assert grid.swept_keys(points) == ["vae.lr", "seeds"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ([], "the grid is empty"),
        (["a=interval(0,1)"], "does not support sweep type"),
        (["a=glob(*)"], "Glob override"),
        (["a=1,2,"], "mismatched input"),
    ],
)
def test_a_grid_dvc_cannot_expand_is_refused_in_one_sentence(args, said) -> None:
    with pytest.raises(UserError) as refused:
        grid.expand(args)
    message = str(refused.value)
    assert said in message and "\n" not in message
    assert "-S key=values" in message or "each -S takes a list (a=1,2)" in message


def test_sbatch_options_come_from_the_config_then_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "slurm.yaml"
    config.write_text("partition: gpu\ntime: '02:00:00'\ncpus_per_task: 4\nexclusive: true\n")
    options = slurm.sbatch_options(config, "--partition=debug --mem=8G")
    assert options == [
        "--partition=gpu",
        "--time=02:00:00",
        "--cpus-per-task=4",
        "--exclusive",
        "--partition=debug",  # later: sbatch takes the last one
        "--mem=8G",
    ]
    assert slurm.sbatch_options(None, "") == []


@pytest.mark.parametrize(
    ("config", "extra", "said"),
    [
        ("array: 0-3\n", "", "slurm.yaml: array is set by the sweep itself"),
        ("partition: [a, b]\n", "", "slurm.yaml: partition must be one line"),
        ("- partition\n", "", "slurm.yaml must map sbatch option names"),
        ("'--time': 1\n", "", "is not an sbatch long option name"),
        ("", "-J name", "job-name is set by the sweep itself"),
        ("", "--output=x.log", "output is set by the sweep itself"),
        ("", "--comment='open", "cannot be split"),
    ],
)
def test_bad_sbatch_options_are_refused_naming_them(tmp_path, config, extra, said) -> None:
    file = tmp_path / "slurm.yaml"
    file.write_text(config)
    with pytest.raises(UserError) as refused:
        slurm.sbatch_options(file, extra)
    assert said in str(refused.value)


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        (
            [
                "Running stage 'validate':",
                "error: params.yaml: vae.lr is -1, but it must be a positive number",
                "ERROR: failed to reproduce 'validate': failed to run: ..., exited with 2",
            ],
            "params.yaml: vae.lr is -1, but it must be a positive number",
        ),
        (
            [
                "Traceback (most recent call last):",
                "  File x, line 1",
                "RuntimeError: CUDA out of memory",
                "ERROR: failed to reproduce 'train@vae': failed to run: ..., exited with 1",
            ],
            "failed to reproduce 'train@vae': failed to run: ..., exited with 1 "
            "(RuntimeError: CUDA out of memory)",
        ),
        (["Killed"], "dvc exp run exited with status 137"),
    ],
    ids=["refused", "crashed", "killed"],
)
def test_a_failed_run_is_said_in_one_line(lines, reason) -> None:
    assert clone.failure_reason(lines, 137) == reason


def test_squeue_lines_give_each_task_its_state(monkeypatch) -> None:
    said = "0|RUNNING|None\n1-3%2|PENDING|JobArrayTaskLimit\n"
    monkeypatch.setattr(slurm, "_slurm", lambda cmd: subprocess.CompletedProcess(cmd, 0, said, ""))
    assert slurm.task_states("7") == {
        0: ("RUNNING", "None"),
        1: ("PENDING", "JobArrayTaskLimit"),
        2: ("PENDING", "JobArrayTaskLimit"),
        3: ("PENDING", "JobArrayTaskLimit"),
    }


def test_experiments_are_read_with_their_queue_state() -> None:
    def exp(name: str, state: str | None) -> dict:
        data = {"params": {"params.yaml": {"data": {"vae": {"lr": 0.1}}}}, "metrics": {}}
        return {
            "name": name,
            "executor": {"state": state} if state else None,
            "revs": [{"rev": f"{name}0000", "data": data}],
        }

    shown = [
        {"rev": "workspace", "experiments": None},
        {"rev": "abc", "experiments": [exp("a", None), exp("b", "success"), exp("c", "queued"),
                                       exp("d", "running"), exp("e", "failed")]},
    ]  # fmt: skip
    found = experiments.parse_show(shown)
    assert [(e.name, e.state) for e in found] == [
        ("a", "done"),
        ("b", "done"),
        ("c", "queued"),
        ("d", "running"),
        ("e", "failed"),
    ]
    assert found[0].params == {"vae.lr": 0.1}
    assert experiments.done_names(found) == {"a", "b"}


def test_a_task_slurm_killed_is_said_from_scontrol(monkeypatch) -> None:
    said = "JobId=9 ArrayJobId=5 ArrayTaskId=2 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15\n"
    monkeypatch.setattr(slurm, "_slurm", lambda cmd: subprocess.CompletedProcess(cmd, 0, said, ""))
    assert slurm.ended_without_result("5", 2) == (
        "SLURM ended the task: TIMEOUT (TimeLimit), exit code 0:15"
    )


def test_points_of_a_running_job_without_a_result_are_on_their_way(monkeypatch, tmp_path) -> None:
    repo = clone.Repository(tmp_path, "0" * 40, tmp_path / "cache")
    points = tuple(grid.expand(["vae.lr=0.1,0.2,0.3"]))
    running = slurm.Submission(tmp_path / "sweeps" / "a", repo, points)
    running.save("7")
    ended = grid.PointResult(points[0].name, points[0].label, True)
    running.status_file(0).write_text(json.dumps(ended.__dict__))
    slurm.Submission(tmp_path / "sweeps" / "b", repo, points).save("6")  # no longer listed
    monkeypatch.setattr(
        slurm, "_slurm", lambda cmd: subprocess.CompletedProcess(cmd, 0, "7\n7\n", "")
    )
    assert slurm.active_names(tmp_path / "sweeps") == {"vae.lr=0.2": "7", "vae.lr=0.3": "7"}


def test_a_task_that_cannot_read_its_submission_says_so(tmp_path, capsys) -> None:
    assert slurm.run_task(tmp_path / "nowhere", 0) == 2
    said = capsys.readouterr().out.splitlines()
    assert len(said) == 1 and said[0].startswith("error: point 0 of ")
    assert "must see the repository at the path" in said[0]


def test_watching_waits_out_a_silent_squeue_and_says_each_end(monkeypatch, tmp_path) -> None:
    repo = clone.Repository(tmp_path, "0" * 40, tmp_path / "cache")
    points = tuple(grid.expand(["vae.lr=0.1,0.2"]))
    sub = slurm.Submission(tmp_path / "sweeps" / "a", repo, points)
    sub.save("7")
    answers = iter([None, {0: ("RUNNING", "None"), 1: ("PENDING", "Priority")}, {}])

    def squeue(job: str):
        answer = next(answers)
        if answer == {}:  # task 0 wrote its result; task 1 was killed without one
            ended = grid.PointResult(points[0].name, points[0].label, True, seconds=3)
            sub.status_file(0).write_text(json.dumps(ended.__dict__))
        return answer

    monkeypatch.setattr(slurm, "task_states", squeue)
    monkeypatch.setattr(slurm, "ended_without_result", lambda job, i: "SLURM ended the task: X")
    said: list[str] = []
    results = slurm.watch(sub, "7", 0.0, said.append)
    assert [r.ok for r in results] == [True, False]
    assert said == [
        "job 7: squeue does not answer; asking again",
        "job 7: 1 running, 1 pending (Priority), 0 of 2 finished",
        "ok      vae.lr=0.1: experiment vae.lr=0.1 (3 s)",
        "job 7: 0 running, 0 pending, 1 of 2 finished",
        f"FAILED  vae.lr=0.2: SLURM ended the task: X; see {sub.log_file(1)}",
    ]


def _failing_show(messages: list[str]):
    """A stand-in for run_tool that fails with each of `messages` in turn, then lists nothing."""
    calls = []

    def show(cmd, root, what):
        calls.append(cmd)
        if len(calls) <= len(messages):
            raise clone.RunFailed(messages[len(calls) - 1])
        return "[]"

    return show, calls


def test_a_queue_copy_vanishing_under_exp_show_is_asked_again(monkeypatch, tmp_path) -> None:
    vanished = "dvc exp show failed: directory '/r/.dvc/tmp/exps/tmpab12/.dvc' does not exist"
    show, calls = _failing_show([vanished, vanished])
    monkeypatch.setattr(experiments, "run_tool", show)
    monkeypatch.setattr(experiments.time, "sleep", lambda s: None)
    assert experiments.of_head(tmp_path) == []
    assert len(calls) == 3


def test_a_lasting_exp_show_failure_is_one_error_after_its_tries(monkeypatch, tmp_path) -> None:
    show, calls = _failing_show(["dvc exp show failed: ERROR: not a DVC repository"] * 10)
    monkeypatch.setattr(experiments, "run_tool", show)
    monkeypatch.setattr(experiments.time, "sleep", lambda s: None)
    with pytest.raises(UserError, match="not a DVC repository"):
        experiments.of_head(tmp_path)
    assert len(calls) == experiments._SHOW_TRIES


def test_a_failed_dvc_command_is_named_by_its_error_line_not_dvc_s_footer(tmp_path) -> None:
    script = tmp_path / "fails.py"
    script.write_text(
        "import sys\n"
        "sys.stderr.write('ERROR: unexpected error - [Errno 2] No such file: x\\n\\n'\n"
        "                 'Having any troubles? Hit us up at https://dvc.org/support\\n')\n"
        "sys.exit(255)\n"
    )
    with pytest.raises(clone.RunFailed) as info:
        clone.run_tool([sys.executable, str(script)], tmp_path, "dvc exp show")
    assert (
        str(info.value)
        == "dvc exp show failed: ERROR: unexpected error - [Errno 2] No such file: x"
    )


def test_a_copy_that_keeps_vanishing_ends_in_the_error(monkeypatch, tmp_path) -> None:
    vanished = "dvc exp show failed: directory '/r/.dvc/tmp/exps/tmpab12/.dvc' does not exist"
    show, calls = _failing_show([vanished] * 10)
    monkeypatch.setattr(experiments, "run_tool", show)
    monkeypatch.setattr(experiments.time, "sleep", lambda s: None)
    with pytest.raises(UserError, match="does not exist"):
        experiments.of_head(tmp_path)
    assert len(calls) == experiments._SHOW_TRIES

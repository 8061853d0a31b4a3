"""The benchmark's pure parts: DVC's log, params edits, the targets, RESULTS.md's History, /proc."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from benchmarks import pipeline, procwatch, results
from benchmarks.epochs import Epochs, Timing
from latentlab.core import params

REPO = Path(__file__).resolve().parents[1]

# DVC 3's `dvc repro` output, as the benchmark reads it line by line (a skipped stage, a stage
# with output of its own, and DVC's closing lines).
REPRO_LOG = """\
Running stage 'validate':
> python -m stages.validate
Generating lock file 'dvc.lock'
Updating lock file 'dvc.lock'

Stage 'download' didn't change, skipping
Running stage 'train@vae':
> python -m stages.train vae
latentlab.training: vae epoch 1/1: seed 1 loss 270.1
Updating lock file 'dvc.lock'

Running stage 'report':
> python -m stages.report
Updating lock file 'dvc.lock'

To track the changes with git, run:

\tgit add dvc.lock
Use `dvc push` to send your updates to remote storage.
"""


def test_stage_times_follow_the_running_stage_lines() -> None:
    lines = [(float(i), line) for i, line in enumerate(REPRO_LOG.splitlines(keepends=True))]
    stages = pipeline.stage_times(lines, end=30.0)
    assert [s.name for s in stages] == ["validate", "train@vae", "report"]
    assert [s.command for s in stages] == [
        "python -m stages.validate",
        "python -m stages.train vae",
        "python -m stages.report",
    ]
    # validate's line is 0, train@vae's 6, report's 11; the last runs to the end given.
    assert [s.seconds for s in stages] == [6.0, 5.0, 19.0]
    assert [s.kind for s in stages] == ["validate", "train", "report"]


def test_a_noop_log_has_no_stages() -> None:
    log = "Stage 'validate' didn't change, skipping\nData and pipelines are up to date.\n"
    assert pipeline.stage_times([(0.5, line) for line in log.splitlines()], end=1.0) == []


def _project(tmp_path: Path) -> Path:
    """A folder with the repository's params.yaml and dvc.yaml."""
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def test_params_edit_keeps_other_keys_and_stays_valid(tmp_path: Path) -> None:
    cwd = _project(tmp_path)
    before = params.read_yaml(cwd / "params.yaml")
    old_range = before["latent_map"]["range"]
    done = pipeline.set_params(
        cwd / "params.yaml", {"latent_map.range": 3, "judge.no_such_key": 1, "nowhere.x": 2}
    )
    assert done == {"latent_map.range": f"{old_range} -> 3"}  # absent keys are not added
    text = (cwd / "params.yaml").read_text()
    after = params.read_yaml(cwd / "params.yaml")
    assert "#" not in text  # no comments are written back
    assert after["latent_map"].pop("range") == 3
    before["latent_map"].pop("range")
    assert after == before
    assert list(after) == list(before)  # the sections keep their order
    # Still a params file the project accepts.
    assert params.load(cwd / "params.yaml", cwd / "dvc.yaml").latent_map.range == 3


def test_latent_range_change_goes_one_down(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("latent_map:\n  grid: 21\n  range: 4\nother: [1, 2]\n")
    assert pipeline.change_latent_range(path) == "4 -> 3"
    assert params.read_yaml(path) == {
        "latent_map": {"grid": 21, "range": 3},
        "other": [1, 2],
    }


def test_smoke_params_are_valid_for_the_current_pipeline(tmp_path: Path) -> None:
    cwd = _project(tmp_path)
    pipeline.shrink(cwd)
    p = params.load(cwd / "params.yaml", cwd / "dvc.yaml")
    assert p.limit == 500 and p.seeds == [1] and p.judge.seeds == [1] and p.interpolate.pairs == 10
    assert {
        m.epochs for m in p.models.values() if m.name in params.declared_models(cwd / "dvc.yaml")
    } == {1}


def test_smoke_params_of_an_older_revision_keep_its_own_keys(tmp_path: Path) -> None:
    # As at 4febb0e: models listed in params.yaml, no `vars: models`, a single judge seed.
    (tmp_path / "dvc.yaml").write_text("stages:\n  download:\n    cmd: python -m stages.download\n")
    (tmp_path / "params.yaml").write_text(
        "data: {limit: 0}\nseeds: [1, 2, 3]\nmodels: [ae]\n"
        "ae: {kind: ae, epochs: 10}\njudge: {seed: 1, epochs: 6}\n"
    )
    done = pipeline.shrink(tmp_path)
    assert "judge.seeds" not in done and "interpolate.pairs" not in done
    assert params.read_yaml(tmp_path / "params.yaml") == {
        "data": {"limit": 500},
        "seeds": [1],
        "models": ["ae"],
        "ae": {"kind": "ae", "epochs": 1},
        "judge": {"seed": 1, "epochs": 1},
    }


def test_results_are_filtered_out_of_a_copy() -> None:
    assert pipeline.is_result("dvc.lock") and pipeline.is_result("runs/vae/train/metrics.json")
    assert pipeline.is_result("reports/report.md") and pipeline.is_result("maps/vae.json")
    assert not pipeline.is_result("stages/train.py") and not pipeline.is_result("dvc.yaml")


def test_history_is_kept_verbatim(tmp_path: Path) -> None:
    history = "## History\n\nBy hand, with trailing space \n### 2026\n\n| a |\n|---|\n\nno newline"
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\nold table\n\n" + history)
    results.write(path, "# Benchmark results\n\nnew table\n")
    assert path.read_text() == "# Benchmark results\n\nnew table\n\n" + history
    # From another file (a --smoke scratch file takes RESULTS.md's), and twice over.
    other = tmp_path / "scratch.md"
    results.write(other, "# new\n", history_from=path)
    results.write(other, "# newer\n")
    assert other.read_text() == "# newer\n\n" + history
    # Without a History section there is nothing to keep.
    bare = tmp_path / "bare.md"
    results.write(bare, "# only\n")
    assert bare.read_text() == "# only\n"


def test_results_md_has_its_history() -> None:
    kept = results.history((REPO / "benchmarks" / "RESULTS.md").read_text())
    assert kept.startswith("## History\n") and "torch.compile" in kept


def _verdicts(s: results.Summary) -> dict[str, str]:
    table = results.targets_table(results.targets(s))
    rows = [line.split("|") for line in table.splitlines()[2:]]
    return {cells[1].strip(): cells[3].strip() for cells in rows}


def test_targets_pass_and_fail_at_their_limits() -> None:
    gib = results.GIB
    good = results.Summary(
        floor_ratio=0.8,
        floor_ratios=[0.7, 0.8, 0.9],
        deterministic=True,
        native_bf16=True,
        noop_s=2.49,
        latent_map_s=14.9,
        quick_s=59.0,
        quick_untouched={"dvc.lock": True, "reports/": True},
        baseline_ratio=1.0,
        slowest_import=("judge", 3.0),
        peak=("evaluate@vae", int(1.5 * gib)),
        worst_stage=("download", 1.5),
    )
    verdicts = _verdicts(good)
    assert len(verdicts) == 10 and set(verdicts.values()) == {"PASS"}
    bad = results.Summary(
        floor_ratio=0.81,
        floor_ratios=[0.81],
        deterministic=False,
        native_bf16=True,
        noop_s=2.5,
        latent_map_s=15.0,
        quick_s=60.0,
        quick_untouched={"dvc.lock": True, "reports/": False},
        baseline_ratio=1.01,
        slowest_import=("judge", 3.01),
        peak=("evaluate@vae", int(1.5 * gib) + 1),
        worst_stage=("report", math.inf),
    )
    verdicts = _verdicts(bad)
    assert len(verdicts) == 10 and set(verdicts.values()) == {"FAIL"}
    # Without native bf16 the epoch and the full repro have looser limits, and say so.
    slower = results.Summary(1.3, [1.3], True, native_bf16=False, baseline_ratio=1.4)
    verdicts = _verdicts(slower)
    assert set(verdicts.values()) == {"PASS"}
    assert any("1.3x of the fp32 floor (no native bf16)" in name for name in verdicts)
    assert any("1.4x of the baseline (no native bf16)" in name for name in verdicts)
    slower.floor_ratio, slower.baseline_ratio = 1.31, 1.41
    assert list(_verdicts(slower).values()) == ["FAIL", "PASS", "FAIL"]
    # Without whole-process measures only the epochs' targets are judged; no baseline, no row.
    assert len(_verdicts(results.Summary(1.0, [1.0], True))) == 2
    assert not any("baseline" in t.name for t in results.targets(results.Summary(1.0, [1.0], True)))


def _run(seconds: float, stages: list[pipeline.Stage]) -> pipeline.Run:
    return pipeline.Run(seconds, stages, "")


def test_summary_uses_undisturbed_repeats_and_fails_a_stage_the_watcher_missed() -> None:
    e = Epochs(images=60000, threads=2, deterministic=True)
    runs = {
        "floor": [1.0, 1.0, 1.0],
        "floor_bf16": [0.5, 0.5, 0.5],
        "ours_vae": [1.2, 3.0, 1.4],
        "lab_vae": [3, 3, 3],
        "ours_ae": [1, 1, 1],
    }
    for name, seconds in runs.items():
        # The second repeat was disturbed (others took 50% of the cores during its VAE epoch).
        e.timings[name] = Timing(seconds, [0.0, 0.5 if name == "ours_vae" else 0.0, 0.0])
    train = pipeline.Stage("train@vae", 0.0, "python -m stages.train vae", 10.0)
    report = pipeline.Stage("report", 10.0, "python -m stages.report", 2.0)
    p = pipeline.Pipeline(
        full=_run(12.0, [train, report]),
        processes={train.command: procwatch.StageProcess(train.command, 100.0, 109.0, 700 << 20)},
        noops=[_run(1.5, []), _run(1.2, [])],
        change="4 -> 3",
        latent_map=_run(9.0, [report]),
        quick=pipeline.Quick(_run(50.0, []), {"dvc.lock": True, "reports/": True}),
        imports={"train": 1.7, "report": 0.5},
        baseline=_run(10.0, []),
        baseline_rev="4febb0e" + "0" * 33,
        adam_startup=(0.6, 2),  # two stages of the 12 s repro build an optimizer: 10%
    )
    s = results.summarize(e, p)
    assert s.floor_ratios == pytest.approx([1.2, 1.4]) and s.floor_ratio == pytest.approx(1.3)
    assert s.noop_s == 1.2 and s.baseline_ratio == pytest.approx(1.2)
    assert s.slowest_import == ("train", 1.7) and s.peak == ("train@vae", 700 << 20)
    assert s.worst_stage == ("report", math.inf)  # no process seen for it: it must not pass
    text = results.report({"cores": "2"}, e, 3, p)
    assert "| report" in text and "4febb0e" in text and "FAIL" in text
    assert "1.2 s over the 2 stages of the full repro that train, 10.0% of it" in text


def test_proc_stat_gives_plausible_cpu_seconds() -> None:
    tick = os.sysconf("SC_CLK_TCK")
    busy, total = procwatch.parse_cpu_line(f"cpu  {tick} 0 {tick} {8 * tick} {tick} 0 0 0 0 0\n")
    assert (busy, total) == (2.0, 11.0)  # idle and iowait are not busy
    busy, total = procwatch.machine_cpu_seconds()
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    cores = os.cpu_count() or 1
    assert 0 < busy <= total
    assert 0.5 * uptime * cores < total < 1.5 * uptime * cores
    _, share = procwatch.with_others_share(lambda: time.sleep(0.2))
    assert 0.0 <= share <= 1.0


def test_proc_gives_this_process_start_and_peak() -> None:
    now = time.clock_gettime(time.CLOCK_BOOTTIME)
    started = procwatch.start_time(os.getpid())
    assert now - 3600 < started <= now
    peak = procwatch.peak_bytes(Path(f"/proc/{os.getpid()}/status").read_text())
    assert 10 << 20 < peak < 64 << 30  # a Python process with torch loaded
    assert procwatch.peak_bytes("Name: x\n") == 0


def test_make_bench_passes_a_baseline_and_other_arguments() -> None:
    def command(*variables: str) -> str:
        dry = subprocess.run(
            ["make", "-n", "bench", *variables], cwd=REPO, capture_output=True, text=True
        )
        assert dry.returncode == 0, dry.stderr
        return next(line for line in dry.stdout.splitlines() if "benchmarks.bench" in line)

    assert command().split() == ["python", "-m", "benchmarks.bench"]
    assert command("BASELINE=a3d5f98", "ARGS=--repeats 2").split()[3:] == [
        "--baseline",
        "a3d5f98",
        "--repeats",
        "2",
    ]
    assert command("ARGS=--baseline a3d5f98").split()[3:] == ["--baseline", "a3d5f98"]

"""End to end: the real DVC pipeline on a small configuration, in a throwaway copy of the repo."""

from __future__ import annotations

import hashlib
import json
import os
import re
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

from latentlab.core import params
from latentlab.report import comparison, factorial, mechanisms, results
from latentlab.report.comparison import (
    CLAIMS,
    MIXED,
    NOT_DECIDED,
    NOT_SUPPORTED,
    SUPPORTED,
    square_of,
)

REPO = Path(__file__).resolve().parents[1]
DATA = Path("/usr/share/datasets/fashion-mnist")
MODELS = params.declared_models(REPO / "dvc.yaml")
SEEDS = [1, 2]
SMALL = {
    "data.limit": 1000,
    "seeds": SEEDS,
    "judge.seeds": [1, 2],
    "judge.epochs": 1,
    "evaluate.iw_samples": 5,
    "paths.pairs": 40,
    **{f"{m}.epochs": 1 for m in MODELS},
}

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (DATA / "train-images-idx3-ubyte.gz").exists(),
        reason=f"Fashion-MNIST is not installed in {DATA} (apt-get install dataset-fashion-mnist)",
    ),
]


def env() -> dict[str, str]:
    """This interpreter's environment first on PATH, since the stages' commands call `python`.

    Python writes its bytecode caches as it does on a user's machine (some sandboxes turn that
    off), so that a cache folder inside a code dependency would show as a change.
    """
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command; with `check`, a failure shows its output."""
    result = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{cmd} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def dvc(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dvc", *args], cwd, check)


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd)


def set_params(repo: Path, **changes: object) -> None:
    """Set dotted keys of the repository's params.yaml."""
    raw = params.read_yaml(repo / "params.yaml")
    for key, value in changes.items():
        section, _, field = key.rpartition(".")
        (raw[section] if section else raw)[field] = value
    (repo / "params.yaml").write_text(params.dump_yaml(raw))


def make_small_copy(dest: Path) -> Path:
    """A git repository holding this working tree's project files, with small params."""
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], REPO).stdout
    for rel in listed.splitlines():
        src = REPO / rel
        # Results of the committed default run are not inputs; the small run makes its own.
        skip = ("runs/", "maps/", "reports/", "dvc.lock", "benchmarks/")
        if src.is_file() and not rel.startswith(skip):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    set_params(dest, **SMALL)
    git("init", "-q", cwd=dest)
    git("add", "-A", cwd=dest)
    git("commit", "-qm", "small", cwd=dest)
    return dest


def file_md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def stale_stages(repo: Path) -> set[str]:
    return set(json.loads(dvc("status", "--json", cwd=repo).stdout))


def per_model(stages: tuple[str, ...], models: list[str] = MODELS) -> set[str]:
    return {f"{s}@{m}" for s in stages for m in models}


def output_hashes(repo: Path) -> dict[str, str]:
    """md5 of every stage output, as recorded in dvc.lock."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {o["path"]: o.get("md5", "") for s in lock["stages"].values() for o in s.get("outs", [])}


def tree_md5(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): file_md5(p) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_small_copy(tmp_path_factory.mktemp("pipeline"))
    dvc("repro", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "small run", cwd=repo)
    return repo


def test_every_stage_ran_and_wrote_its_outputs(pipeline: Path) -> None:
    lock = yaml.safe_load((pipeline / "dvc.lock").read_text())["stages"]
    everything = per_model(("train", "evaluate", "render", "paths"))
    assert set(lock) == {"validate", "download", "judge", "calibrate", "report"} | everything
    declared = [out["path"] for stage in lock.values() for out in stage["outs"]]
    for out in declared:
        assert (pipeline / out).exists(), out
    # Nothing is written outside the declared outputs (DVC would neither track nor remove it).
    for top in ("runs", "maps", "reports", "data/raw"):
        for file in (pipeline / top).rglob("*"):
            name = file.relative_to(pipeline).as_posix()
            if file.is_file() and file.name != ".gitignore":
                assert any(name == d or name.startswith(d + "/") for d in declared), name
    for model in MODELS:
        for seed in SEEDS:
            for suffix in ("", "_own"):
                png = Image.open(pipeline / f"maps/{model}/seed{seed}{suffix}.png")
                assert png.size == (588, 588) and png.mode == "L"
            with np.load(pipeline / f"maps/{model}/seed{seed}.npz") as arrays:
                assert arrays["lab_z"].shape == (21, 21, 2)
                assert arrays["lab_tiles"].shape == (21, 21, 28, 28)
                assert arrays["prior_images"].shape == (100, 28, 28)
        # The report's copy of the first seed's map is the map, pixel for pixel.
        copy = pipeline / f"reports/figures/map_{model}.png"
        assert copy.read_bytes() == (pipeline / f"maps/{model}/seed1.png").read_bytes()
    report = (pipeline / "reports/report.md").read_text()
    assert "## The answer" in report and "| claim" in report and "figures/maps.png" in report
    assert "How far the measures can be fooled" in report and "| fooled by" in report


def test_the_mechanisms_factorial_reads_a_real_run(pipeline: Path, monkeypatch) -> None:
    """The four cells' results, as the stages wrote them, make a factorial and its report text."""
    monkeypatch.chdir(pipeline)
    p = params.load()
    table = results.gather(p)
    cells = factorial.design_cells(p)
    assert cells is not None and set(cells.in_rows()) == {"ae_wide", "wae", "vae_nokl", "vae"}
    fact = factorial.factorial(cells, table, results.gather_items(p))
    summary = results.summarise(table)
    why = mechanisms.why(fact, summary)
    assert all(f"*{claim.text}*: " in why for claim in comparison.CLAIMS)
    assert "mean posterior sigma" in why and "eigenvalues" in why
    for text in (why, mechanisms.effects_table(fact, p), mechanisms.diagnostics_table(summary, p)):
        assert "nan" not in text.lower()


def test_dvc_metrics_are_the_headline_metrics_and_the_verdicts(pipeline: Path) -> None:
    shown = json.loads(dvc("metrics", "show", "--json", cwd=pipeline).stdout)
    files = next(iter(shown.values()))["data"]
    assert list(files) == ["reports/metrics.json", "reports/verdicts.json"]
    raw = params.read_yaml(pipeline / "params.yaml")
    kinds = {m: raw[m]["kind"] for m in raw["report"]["models"]}
    assert set(files["reports/metrics.json"]["data"]) == {"judge_accuracy", *kinds}

    def count(node: object) -> int:
        return sum(map(count, node.values())) if isinstance(node, dict) else 1

    # At most 10 per model (tests/test_metrics_table.py), and the judges' accuracy.
    assert count(files["reports/metrics.json"]["data"]) <= 10 * len(MODELS) + 1
    verdicts = files["reports/verdicts.json"]["data"]
    # The write-up's VAE is one with its KL term (a VAE with beta 0 is a cell of the factorial).
    vaes = {m for m, kind in kinds.items() if kind == "vae" and raw[m]["beta"] > 0}
    assert set(verdicts) == vaes
    aes = {m for m, kind in kinds.items() if kind == "ae"}
    on_map = [c.key for c in CLAIMS if all(square_of(m) for m in c.measures)]
    claims = {c.key for c in CLAIMS} | {f"{key}_own" for key in on_map}
    for per_ae in verdicts.values():
        assert set(per_ae) == aes
        for verdict in per_ae.values():
            assert set(verdict) == claims
            assert set(verdict.values()) <= {SUPPORTED, MIXED, NOT_SUPPORTED, NOT_DECIDED}


def test_plots_overlay_the_seeds(pipeline: Path) -> None:
    shown = json.loads(dvc("plots", "show", "--json", cwd=pipeline).stdout)
    kl = shown["data"]["runs/vae/train/plots/custom/kl.json"][0]
    seeds = {point["seed"] for point in kl["content"]["data"]["values"]}
    assert seeds == set(SEEDS)


def test_second_repro_runs_nothing(pipeline: Path) -> None:
    out = dvc("repro", cwd=pipeline).stdout
    assert "Running stage" not in out
    assert stale_stages(pipeline) == set()


@pytest.mark.parametrize(
    ("change", "stale"),
    [
        ({"vae.epochs": 2}, per_model(("train", "evaluate", "render", "paths"), ["vae"])),
        ({"latent_map.range": 3}, per_model(("render",))),
        ({"latent_map.min_tiles": 4}, {"calibrate"} | per_model(("render",))),
        ({"realism.seed": 2}, {"calibrate"} | per_model(("render", "paths"))),
        ({"judge.seeds": [3, 4]}, {"judge", "calibrate"} | per_model(("render", "paths"))),
        ({"report.figure_dpi": 80}, set()),
    ],
    ids=["vae", "latent_map", "min_tiles", "realism", "judge", "report"],
)
def test_a_param_change_stales_only_what_reads_it(pipeline: Path, change, stale) -> None:
    set_params(pipeline, **change)
    try:
        assert stale_stages(pipeline) == stale | {"validate", "report"}
    finally:
        run(["git", "checkout", "params.yaml"], pipeline)


@pytest.mark.parametrize(
    ("edited", "stale"),
    [
        ("latentlab/training.py", per_model(("train",))),
        ("latentlab/download.py", {"download"}),
        ("latentlab/report/text.py", {"report"}),
        ("latentlab/report/labels.py", {"report"}),
        ("latentlab/analysis/metrics.py", {"report"} | per_model(("evaluate", "render", "paths"))),
        ("latentlab/interpolation.py", per_model(("paths",))),
        ("latentlab/judge/training.py", {"judge"}),
        ("latentlab/nn/models.py", per_model(("train", "evaluate", "render", "paths"))),
    ],
)
def test_a_code_edit_stales_only_the_stages_that_run_it(pipeline: Path, edited, stale) -> None:
    path = pipeline / edited
    path.write_text(path.read_text() + "\n# a comment\n")
    try:
        assert stale_stages(pipeline) == stale
    finally:
        run(["git", "checkout", edited], pipeline)


def test_a_killed_write_leaves_nothing_dvc_or_git_sees(pipeline: Path) -> None:
    stray = pipeline / "runs/ae/evaluate/.seed1.json.k2j3.tmp"
    stray.write_text("half a file")
    try:
        assert stale_stages(pipeline) == set()
        assert run(["git", "status", "--porcelain"], pipeline).stdout == ""
    finally:
        stray.unlink(missing_ok=True)


@pytest.mark.parametrize(
    "attack",
    [
        # A name with a shell command, where the report reads names.
        ["exp", "run", "-S", "report.models=[ae, vae, 'x; touch owned; echo']"],
        # A path outside the repository, and the runs folder, where a model name would go.
        ["exp", "run", "-S", "report.models=[ae, '../../victim']"],
        ["exp", "run", "-S", "+models=[ae, vae, '../runs']"],
        # Targeting stages that such names would create: DVC knows no such stage.
        ["repro", "-s", "render@../runs"],
        ["repro", "-s", "train@x; touch owned; echo"],
    ],
    ids=["command", "outside", "runs", "stage-runs", "stage-command"],
)
def test_no_param_can_run_a_command_or_delete_a_file(pipeline: Path, attack, tmp_path) -> None:
    victim = pipeline.parent / "victim"
    victim.mkdir(exist_ok=True)
    (victim / "keep").write_text("keep")
    before = tree_md5(pipeline / "runs")
    result = dvc(*attack, cwd=pipeline, check=False)
    try:
        assert result.returncode != 0
        assert not (pipeline / "owned").exists() and not (pipeline.parent / "owned").exists()
        assert (victim / "keep").read_text() == "keep"
        assert tree_md5(pipeline / "runs") == before
        said = result.stdout + result.stderr
        if "report.models" in attack[-1]:  # refused by the validate stage, in one sentence
            assert "error: params.yaml: report.models" in said
        elif attack[-1].startswith("+models="):  # DVC refuses to parse a second `models`
            assert "cannot redefine 'models'" in said
    finally:
        run(["git", "checkout", "params.yaml"], pipeline)


def test_a_bad_value_under_a_targeted_stage_deletes_nothing(pipeline: Path) -> None:
    """`dvc repro -s report` skips the validate stage; the report's outputs persist, so its own
    refusal comes before any of them is touched."""
    before = tree_md5(pipeline / "reports")
    set_params(pipeline, **{"evaluate.knn_k": 1000000})
    try:
        result = dvc("repro", "-s", "report", cwd=pipeline, check=False)
        assert result.returncode != 0
        assert "error: params.yaml: evaluate.knn_k is 1000000" in result.stdout + result.stderr
        assert tree_md5(pipeline / "reports") == before
    finally:
        run(["git", "checkout", "params.yaml"], pipeline)


@pytest.mark.parametrize("compared", [["vae"], ["ae", "ae_wide"]], ids=["vae-alone", "aes-alone"])
def test_a_report_over_one_kind_of_model_has_no_comparison(
    pipeline: Path, tmp_path, compared
) -> None:
    repo = tmp_path / "one-kind"
    shutil.copytree(pipeline, repo, symlinks=True)
    set_params(repo, **{"report.models": compared})
    dvc("repro", cwd=repo)
    report = (repo / "reports/report.md").read_text()
    assert "No comparison" in report and "| claim" not in report
    assert sorted(json.loads((repo / "reports/metrics.json").read_text())) == sorted(
        ["judge_accuracy", *compared]
    )
    assert json.loads((repo / "reports/verdicts.json").read_text()) == {}
    drawn = {p.name for p in (repo / "reports/figures").iterdir()}
    assert {f"map_{m}.png" for m in compared} <= drawn
    assert not {f"map_{m}.png" for m in MODELS if m not in compared} & drawn


def test_check_results_agrees_with_itself_and_catches_a_change(pipeline: Path, tmp_path) -> None:
    agreed = run([sys.executable, "-m", "scripts.check_results"], pipeline)
    assert "agree" in agreed.stdout
    summary = pipeline / "reports/summary.csv"
    original = summary.read_text()
    try:
        lines = original.splitlines()
        row = next(i for i, line in enumerate(lines) if line.startswith("vae,lab,coverage,"))
        cells = lines[row].split(",")
        cells[3] = str(float(cells[3]) + 1000.0)  # far beyond any spread, even of two seeds
        lines[row] = ",".join(cells)
        summary.write_text("\n".join(lines) + "\n")
        differs = run([sys.executable, "-m", "scripts.check_results"], pipeline, check=False)
        assert differs.returncode == 1 and "does not agree" in differs.stdout
    finally:
        summary.write_text(original)
    set_params(pipeline, **{"vae.lr": 0.002})
    try:
        other = run([sys.executable, "-m", "scripts.check_results"], pipeline, check=False)
        assert other.returncode == 2 and other.stderr.startswith("error: params.yaml differs")
    finally:
        run(["git", "checkout", "params.yaml"], pipeline)


@pytest.fixture(scope="module")
def experiment(pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the pipeline with one named experiment that reruns only the report; the
    workspace holds its results, as `dvc exp run` leaves them."""
    repo = tmp_path_factory.mktemp("experiment") / "repo"
    shutil.copytree(pipeline, repo, symlinks=True)
    dvc("exp", "run", "-n", "dpi80", "-S", "report.figure_dpi=80", cwd=repo)
    return repo


def test_compare_shows_params_metrics_and_verdicts_in_100_columns(experiment: Path) -> None:
    out = run([sys.executable, "-m", "scripts.compare"], experiment).stdout
    assert max(map(len, out.splitlines())) <= 100, out
    branch = run(["git", "rev-parse", "--abbrev-ref", "HEAD"], experiment).stdout.strip()
    header = next(line for line in out.splitlines() if line.startswith("param "))
    assert header.split() == ["param", "workspace", branch, "dpi80"]  # HEAD differs now
    assert "report.figure_dpi" in out and "kinds: vae vs ae_wide" in out
    dpi_row = next(line for line in out.splitlines() if line.startswith("report.figure_dpi"))
    assert dpi_row.split()[1:] == ["80", "110", "80"]
    named = run([sys.executable, "-m", "scripts.compare", "dpi80"], experiment).stdout
    assert "workspace" in named and f"  {branch}" not in named.split("Headline")[0]


def test_the_exp_show_recipe_fits_a_terminal(experiment: Path) -> None:
    dry_run = run(["make", "-s", "-n", "exps"], REPO).stdout
    drop = dry_run.split("--drop '", 1)[1].split("'", 1)[0]
    out = dvc("exp", "show", "--md", "--only-changed", "--drop", drop, cwd=experiment).stdout
    assert max(map(len, out.splitlines())) <= 100, out
    columns = [name.strip() for name in out.splitlines()[0].split("|")[1:-1]]
    assert columns == ["Experiment", "report.figure_dpi"]


def test_plots_diff_works_offline_and_shows_every_figure_but_no_epoch(experiment: Path) -> None:
    dvc("plots", "show", "-o", "shown", cwd=experiment)
    dvc("plots", "diff", "HEAD", "dpi80", "-o", "diffed", cwd=experiment)
    pages = {out: (experiment / out / "index.html").read_text() for out in ("shown", "diffed")}
    for page in pages.values():
        assert re.findall(r"<script\b[^>]*\bsrc=", page) == []
        assert re.findall(r"""\bsrc=["']https?:""", page) == []
    diffed = pages["diffed"]
    assert diffed.count("vegaEmbed('#") >= len(MODELS)  # the training curves
    figures = sorted(
        f"reports/figures/{p.name}" for p in (experiment / "reports/figures").iterdir()
    )
    assert sorted(re.findall(r"<p>(reports/figures/[^<]+)</p>", diffed)) == figures
    assert diffed.count("<p>dpi80</p>") == diffed.count("<p>HEAD</p>") == len(figures)
    assert "plots/images" not in diffed  # no map after every epoch unless asked for
    epochs = "--targets", "runs/vae/train/plots/images"
    dvc("plots", "diff", "HEAD", "dpi80", *epochs, "-o", "epochs", cwd=experiment)
    page = (experiment / "epochs/index.html").read_text()
    assert "runs/vae/train/plots/images/seed1/map/1.png" in page


def test_check_results_compares_with_an_experiment(experiment: Path) -> None:
    check = [sys.executable, "-m", "scripts.check_results"]
    agreed = run([*check, "--rev", "dpi80"], experiment)  # the workspace holds dpi80's run
    assert "agree with dpi80" in agreed.stdout
    other = run([*check, "--run", "dpi80"], experiment, check=False)  # against HEAD: other params
    assert other.returncode == 2
    assert other.stderr.startswith("error: params.yaml differs between dpi80 and HEAD")


def test_killed_training_resumes_to_identical_outputs(pipeline: Path, tmp_path: Path) -> None:
    repo = tmp_path / "killed"
    shutil.copytree(pipeline, repo, symlinks=True)
    set_params(repo, **{"vae.epochs": 30})  # long enough to be killed mid-training
    dvc("repro", cwd=repo)
    reference = output_hashes(repo)
    finished = {p.name: file_md5(p) for p in (repo / "runs/vae/models").glob("*.pt")}

    # --force: really retrain (a plain repro would check the reference outputs out of the cache).
    retrain = ["repro", "--force", "--single-item", "train@vae"]
    log_path = tmp_path / "repro.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dvc", *retrain],
            cwd=repo,
            env=env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while "vae seed 2 epoch 2/30" not in log_path.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # DVC removes a stage's outputs before running it; what must never be there is half a file.
    assert not list(repo.glob("runs/**/.*.tmp")), "a killed stage left a temporary file"
    for model in (repo / "runs/vae/models").glob("*.pt"):
        assert file_md5(model) == finished[model.name], f"{model.name} is half-written"

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
        # --single-item: --force alone would rerun every stage upstream of the report too.
        [sys.executable, "-m", "dvc", "repro", "--force", "--single-item", "report"],
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

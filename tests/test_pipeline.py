"""End to end: the real DVC pipeline on a small configuration, in a throwaway copy of the repo."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
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
    "interpolate.pairs": 40,
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
    everything = per_model(("train", "evaluate", "render", "interpolate"))
    stages = {"validate", "download", "judge", "balls", "calibrate", "report"}
    assert set(lock) == stages | everything
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
    why = "\n".join(mechanisms.why(fact, summary))
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
    # and the factorial's finding per claim: the repository's models make its design
    mechanism = verdicts.pop(comparison.MECHANISM_KEY)
    assert set(mechanism) == {c.key for c in CLAIMS}
    assert set(mechanism.values()) <= set(factorial.PATTERNS)
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
        ({"vae.epochs": 2}, per_model(("train", "evaluate", "render", "interpolate"), ["vae"])),
        ({"latent_map.range": 3}, per_model(("render",))),
        ({"latent_map.min_tiles": 4}, {"calibrate"} | per_model(("render",))),
        ({"realism.seed": 2}, {"balls", "calibrate"} | per_model(("render", "interpolate"))),
        (
            {"judge.seeds": [3, 4]},
            {"judge", "balls", "calibrate"} | per_model(("render", "interpolate")),
        ),
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
        ("latentlab/download.py", {"validate", "download"}),  # validate checks data.sources
        ("latentlab/report/text.py", {"report"}),
        ("latentlab/report/labels.py", {"report"}),
        (
            "latentlab/analysis/metrics.py",
            {"report"} | per_model(("evaluate", "render", "interpolate")),
        ),
        ("latentlab/interpolation.py", per_model(("interpolate",))),
        ("latentlab/judge/training.py", {"judge"}),
        ("latentlab/nn/models.py", per_model(("train", "evaluate", "render", "interpolate"))),
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


def test_a_quick_run_s_report_says_it_proves_nothing(pipeline: Path, tmp_path) -> None:
    """One seed and one judge, as `make quick` runs: no verdict, and the first screen says why."""
    repo = tmp_path / "quick"
    shutil.copytree(pipeline, repo, symlinks=True)
    set_params(repo, **{"seeds": [1], "judge.seeds": [1]})
    dvc("repro", cwd=repo)
    report = (repo / "reports/report.md").read_text()
    screen = report[: report.index("## The answer")]
    assert "**This run proves nothing about the write-up's claims**" in screen
    assert "not decided (too few seeds: 1, and a verdict needs 2 or more)" in screen
    assert "not decided (too few judges: 1, and a judge-based verdict needs 3 or more)" in screen
    glance = [line for line in screen.splitlines() if line.startswith("| ")][1:]
    assert len(glance) == len(CLAIMS)
    assert all({c.strip() for c in row.split("|")[2:-1]} == {NOT_DECIDED} for row in glance)
    verdicts = json.loads((repo / "reports/verdicts.json").read_text())
    mechanism = verdicts.pop(comparison.MECHANISM_KEY)
    assert set(mechanism.values()) == {NOT_DECIDED}
    assert {v for per_ae in verdicts.values() for d in per_ae.values() for v in d.values()} == {
        NOT_DECIDED
    }
    long_lines = [
        line
        for line in report.splitlines()
        if len(line) > 350 and not line.startswith("|") and "](figures/" not in line
    ]
    assert long_lines == []


def check_results(repo: Path, *args: str, **environ: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scripts.check_results", *args],
        cwd=repo,
        env={**env(), **environ},
        capture_output=True,
        text=True,
    )


def commit_with(repo: Path, path: str, content: str) -> str:
    """A commit on top of HEAD in which `path` holds `content`; workspace and branch untouched."""
    git_env = {**env(), "GIT_INDEX_FILE": str(repo / ".git" / "index.check-results")}

    def plumbing(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=repo,
            env=git_env,
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    plumbing("read-tree", "HEAD")
    blob = plumbing("hash-object", "-w", "--stdin", stdin=content)
    plumbing("update-index", "--cacheinfo", f"100644,{blob},{path}")
    return plumbing("commit-tree", plumbing("write-tree"), "-p", "HEAD", "-m", "altered")


def with_cell(summary: str, row_start: str, column: int, value: str) -> str:
    lines = summary.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith(row_start))
    cells = lines[row].split(",")
    cells[column] = value
    lines[row] = ",".join(cells)
    return "\n".join(lines) + "\n"


def test_check_results_agrees_with_itself_and_catches_a_change(pipeline: Path) -> None:
    agreed = check_results(pipeline)
    assert agreed.returncode == 0 and "agree" in agreed.stdout
    summary = (pipeline / "reports/summary.csv").read_text()
    coverage = float(
        next(r for r in summary.splitlines() if r.startswith("vae,lab,coverage,")).split(",")[3]
    )
    # A commit whose run had a coverage far beyond any spread, even of two seeds.
    other = commit_with(
        pipeline,
        "reports/summary.csv",
        with_cell(summary, "vae,lab,coverage,", 3, str(coverage + 1000)),
    )
    differs = check_results(pipeline, "--rev", other)
    assert differs.returncode == 1 and "does not agree" in differs.stdout


@pytest.mark.parametrize(
    "case",
    [
        "other-params",
        "text-mean",
        "nan-mean",
        "invalid-params",
        "missing-params",
        "other-run",
        "edited-summary",
        "crash",
    ],
)
def test_check_results_exits_2_when_it_cannot_compare(pipeline: Path, case) -> None:
    """Exit status 2 means one thing: nothing was compared; 1 only ever means "does not agree"."""
    summary_file, lock_file = pipeline / "reports/summary.csv", pipeline / "dvc.lock"
    params_file, config_file = pipeline / "params.yaml", pipeline / ".dvc" / "config"
    saved = {f: f.read_bytes() for f in (summary_file, lock_file, params_file, config_file)}
    summary, rev, environ = summary_file.read_text(), "HEAD", {}
    if case == "other-params":
        set_params(pipeline, **{"vae.lr": 0.002})
    elif case in ("text-mean", "nan-mean"):
        value = "n/a" if case == "text-mean" else "nan"
        rev = commit_with(pipeline, "reports/summary.csv", with_cell(summary, "vae,lab,", 3, value))
    elif case == "invalid-params":
        params_file.write_text("seeds: [1, 2\n")
    elif case == "missing-params":
        params_file.unlink()
    elif case == "other-run":  # the summary of a run of vae.lr 0.002, params.yaml set back
        lock = yaml.safe_load(saved[lock_file])
        lock["stages"]["report"]["params"]["params.yaml"]["vae"]["lr"] = 0.002
        lock_file.write_text(yaml.safe_dump(lock, sort_keys=False))
    elif case == "edited-summary":
        summary_file.write_text(with_cell(summary, "vae,lab,", 3, "0.5"))
    else:  # DVC cannot read its own config: the script crashes in DVC's API
        config_file.write_text("[core\n")
    try:
        result = check_results(pipeline, "--rev", rev, **environ)
    finally:
        for file, content in saved.items():
            file.write_bytes(content)
    said = {
        "other-params": "params.yaml differs between this run and HEAD",
        "text-mean": f"{rev}:reports/summary.csv: mean of vae/lab/",
        "nan-mean": f"{rev}:reports/summary.csv: mean of vae/lab/",
        "invalid-params": "params.yaml is not valid YAML",
        "missing-params": "params.yaml is missing or unreadable",
        "other-run": "reports/summary.csv was made with other params than params.yaml",
        "edited-summary": "reports/summary.csv is not the one dvc.lock records",
        "crash": "the comparison crashed (",
    }[case]
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines()[-1].startswith(f"error: {said}"), result.stderr
    assert result.stdout == ""


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


def test_check_results_compares_runs_that_differ_only_in_how_they_compute(
    experiment: Path, tmp_path: Path
) -> None:
    """device, precision and memory_gib say how a run computes: such runs must agree."""
    repo = tmp_path / "repo"
    shutil.copytree(experiment, repo, symlinks=True)
    dvc("exp", "run", "-n", "mem9", "-S", "memory_gib=9", cwd=repo)  # on dpi80's params
    result = check_results(repo, "--run", "mem9", "--rev", "dpi80")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "memory_gib: 8 at dpi80, 9 for mem9" in result.stdout
    assert "agree with dpi80" in result.stdout


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
        while "vae epoch 2/30" not in log_path.read_text():  # every seed mid-training
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


# dvc.lock tells the truth (issue 23): a refusal touches nothing, a params edit during a run is
# not recorded, and tampered inputs are refused in one line. Issue 20: the run-cache.


def outputs(repo: Path) -> dict[str, str]:
    """md5 of every file the stages write or read as data, by path."""
    return {
        f"{top}/{name}": md5
        for top in ("runs", "maps", "reports", "data/raw")
        for name, md5 in tree_md5(repo / top).items()
    }


def changes(repo: Path) -> set[tuple[str, str, str]]:
    """(stage, "changed deps" or "changed outs", path) for every change `dvc status` reports."""
    status = json.loads(dvc("status", "--json", cwd=repo).stdout)
    return {
        (stage, kind, path)
        for stage, entries in status.items()
        for entry in entries
        if isinstance(entry, dict)
        for kind, changed in entry.items()
        for path in changed
    }


def damaged_source(folder: Path) -> Path:
    """A source folder holding the four files, one of them truncated: validate lets it pass."""
    folder.mkdir()
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (folder / f"{name}.gz").symlink_to(DATA / f"{name}.gz")
    (folder / "train-images-idx3-ubyte.gz").write_bytes(
        (DATA / "train-images-idx3-ubyte.gz").read_bytes()[:100_000]
    )
    return folder


def test_a_refusal_says_which_outputs_the_cache_cannot_put_back(pipeline: Path, tmp_path) -> None:
    """One file of runs/ae/codes is missing from DVC's cache: the stage says what is gone."""
    lock = yaml.safe_load((pipeline / "dvc.lock").read_text())["stages"]["evaluate@ae"]
    manifest = next(o["md5"] for o in lock["outs"] if o["path"] == "runs/ae/codes")
    objects = pipeline / ".dvc/cache/files/md5"
    first = json.loads((objects / manifest[:2] / manifest[2:]).read_text())[0]["md5"]
    moved = tmp_path / "object"
    shutil.move(objects / first[:2] / first[2:], moved)
    set_params(pipeline, **{"evaluate.knn_k": 0})
    try:
        result = dvc("repro", "-s", "evaluate@ae", cwd=pipeline, check=False)
    finally:
        shutil.move(moved, objects / first[:2] / first[2:])
        run(["git", "checkout", "params.yaml"], pipeline)
    assert result.returncode != 0
    assert "error: params.yaml: evaluate.knn_k is 0, but it must be a positive integer" in (
        result.stderr
    )
    assert (
        "; DVC removed runs/ae/codes before running evaluate@ae, and its cache cannot put it "
        "back: `dvc pull evaluate@ae` fetches it from a remote, `dvc repro evaluate@ae` remakes it"
    ) in result.stderr
    assert not (pipeline / "runs/ae/codes").exists()
    assert (pipeline / "runs/ae/evaluate/seed1.json").is_file()  # that one is back
    dvc("checkout", "runs/ae/codes", cwd=pipeline)
    assert stale_stages(pipeline) == set()


@pytest.mark.parametrize("attack", ["knn_k-0", "truncated-data", "bad-source"])
def test_a_stage_refusing_under_repro_s_touches_nothing(pipeline: Path, tmp_path, attack) -> None:
    """DVC removes a stage's outputs before running it; the stage that refuses puts them back
    from DVC's cache as dvc.lock records them, so only the edit itself shows in `dvc status`."""
    before, lock = outputs(pipeline), (pipeline / "dvc.lock").read_bytes()
    data = pipeline / "data/raw/FashionMNIST/raw/train-images-idx3-ubyte"
    if attack == "knn_k-0":
        stage, edited, said = "evaluate@ae", "params.yaml", "evaluate.knn_k is 0"
        set_params(pipeline, **{"evaluate.knn_k": 0})
    elif attack == "truncated-data":
        stage, edited, said = "train@vae", "data/raw/FashionMNIST", "does not match the published"
        data.write_bytes(data.read_bytes()[:1000])
        del before[data.relative_to(pipeline).as_posix()]  # the edit itself
    else:
        stage, edited, said = "download", "params.yaml", "no source gave all four"
        set_params(pipeline, **{"data.sources": [str(damaged_source(tmp_path / "damaged"))]})
    try:
        result = dvc("repro", "-s", stage, cwd=pipeline, check=False)
        assert result.returncode != 0
        assert "error: " in result.stderr and said in result.stderr, result.stderr
        after = outputs(pipeline)
        if attack == "truncated-data":
            del after[data.relative_to(pipeline).as_posix()]
        assert after == before
        assert (pipeline / "dvc.lock").read_bytes() == lock
        reported = changes(pipeline)
        assert {path for _, _, path in reported} == {edited}
        assert {(s, kind) for s, kind, _ in reported if kind == "changed outs"} == (
            {("download", "changed outs")} if attack == "truncated-data" else set()
        )
    finally:
        run(["git", "checkout", "params.yaml"], pipeline)
        dvc("checkout", "--force", "data/raw/FashionMNIST", cwd=pipeline)
    assert stale_stages(pipeline) == set()


def test_params_edited_while_a_stage_runs_are_not_recorded(pipeline: Path, tmp_path) -> None:
    set_params(pipeline, **{"ae.epochs": 20})  # long enough to edit params.yaml mid-run
    before, lock = outputs(pipeline), (pipeline / "dvc.lock").read_bytes()
    log_path = tmp_path / "repro.log"
    try:
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dvc", "repro", "-s", "train@ae"],
                cwd=pipeline,
                env=env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            deadline = time.monotonic() + 120
            while "training ae (seeds" not in log_path.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.05)
            set_params(pipeline, **{"ae.lr": 0.003})
            assert proc.wait(timeout=300) != 0
        said = log_path.read_text()
        assert "error: params.yaml changed while train@ae ran (ae)" in said, said
        assert (pipeline / "dvc.lock").read_bytes() == lock
        assert outputs(pipeline) == before
        assert ("train@ae", "changed deps", "params.yaml") in changes(pipeline)
        assert not {c for c in changes(pipeline) if c[1] == "changed outs"}
    finally:
        run(["git", "checkout", "params.yaml"], pipeline)


def png_header(width: int, height: int) -> bytes:
    """The start of a grey PNG of that size: what PIL reads when it opens one."""
    header = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 13)
        + header
        + struct.pack(">I", zlib.crc32(header))
    )


REPORT_ATTACKS = {
    # file, how it is tampered with, what the one error line says
    "nan-metric": (
        "runs/ae/evaluate/seed1.json",
        lambda d: {**d, "test_bce": float("nan")},
        "runs/ae/evaluate/seed1.json: test_bce is nan, but it must be a finite number",
    ),
    "text-metric": (
        "runs/vae/evaluate/seed2.json",
        lambda d: {**d, "log_likelihood": "-250 nats"},
        "runs/vae/evaluate/seed2.json: log_likelihood is '-250 nats', but it must be a finite",
    ),
    "missing-metric": (
        "runs/ae_wide/interpolate/seed1.json",
        lambda d: {k: v for k, v in d.items() if k != "path_evenness"},
        "runs/ae_wide/interpolate/seed1.json has no 'path_evenness'",
    ),
    "infinite-per-judge": (
        "runs/vae/render/seed1.json",
        lambda d: {**d, "lab": {**d["lab"], "precision": [0.5, float("inf")]}},
        "runs/vae/render/seed1.json: lab.precision[1] is inf, but it must be a finite number",
    ),
    "seed-one": (
        "runs/ae/train/plots/custom/loss.json",
        lambda rows: [{**rows[0], "seed": "one"}, *rows[1:]],
        "runs/ae/train/plots/custom/loss.json: [0].seed is 'one', but it must be a finite",
    ),
    "deep-json": (
        "runs/judge/metrics.json",
        "[" * 100_000 + "]" * 100_000,
        "runs/judge/metrics.json is not JSON an earlier stage could have written",
    ),
    "20000x20000-png": (
        "runs/vae/train/plots/images/seed1/map/1.png",
        png_header(20000, 20000),
        "runs/vae/train/plots/images/seed1/map/1.png is missing or unreadable",
    ),
}


@pytest.mark.parametrize("attack", sorted(REPORT_ATTACKS))
def test_the_report_refuses_a_tampered_input_in_one_line(
    pipeline: Path, attack, monkeypatch, capsys
) -> None:
    """In process: the report stage over a run one of whose files was tampered with exits 2
    with one line naming the file and key, and leaves reports/ byte for byte as it was."""
    name, tamper, said = REPORT_ATTACKS[attack]
    file = pipeline / name
    original, before = file.read_bytes(), tree_md5(pipeline / "reports")
    if callable(tamper):
        file.write_text(json.dumps(tamper(json.loads(original))))
    else:
        file.write_bytes(tamper if isinstance(tamper, bytes) else tamper.encode())
    module = importlib.import_module("stages.report")
    monkeypatch.chdir(pipeline)
    monkeypatch.setattr(sys, "argv", ["report"])
    try:
        with pytest.raises(SystemExit) as info:
            module.main()
    finally:
        file.write_bytes(original)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith(f"error: {said}"), err
    assert tree_md5(pipeline / "reports") == before


def test_the_report_removes_what_a_killed_write_left(pipeline: Path, monkeypatch) -> None:
    """Temporary files of a report killed mid-write are ignored by DVC and git, and the next
    run of the stage removes them; every output comes out byte for byte as before."""
    before = tree_md5(pipeline / "reports")
    strays = [
        pipeline / "reports/figures/.data_ae.png.k2j3.tmp",
        pipeline / "reports/.report.md.x.tmp",
    ]
    for stray in strays:
        stray.write_bytes(b"half a figure")
    assert stale_stages(pipeline) == set()
    monkeypatch.chdir(pipeline)
    monkeypatch.setattr(sys, "argv", ["report"])
    importlib.import_module("stages.report").main()
    assert not any(stray.exists() for stray in strays)
    assert tree_md5(pipeline / "reports") == before


def shared_cache_clone(pipeline: Path, dest: Path, rev: str) -> Path:
    """A git clone of the pipeline's repository at `rev`, using the pipeline's DVC cache, as a
    sweep's task on another machine would (issue 20)."""
    run(["git", "clone", "-q", str(pipeline), str(dest)], pipeline)
    git("checkout", "-q", rev, cwd=dest)
    git("config", "user.name", "t", cwd=dest)
    git("config", "user.email", "t@t", cwd=dest)
    dvc("cache", "dir", "--local", str(pipeline / ".dvc" / "cache"), cwd=dest)
    return dest


def ran_and_cached(out: str) -> tuple[set[str], set[str]]:
    """The stages a `dvc repro` ran, and those it restored from the run-cache."""
    ran = set(re.findall(r"Running stage '([^']+)'", out))
    return ran, set(re.findall(r"Stage '([^']+)' is cached - skipping run", out))


def test_a_vae_change_runs_the_vae_s_stages_and_restores_the_rest(pipeline: Path, tmp_path) -> None:
    """A clone of the commit before the pipeline ran (no dvc.lock, no outputs) with the VAE's
    learning rate changed, sharing the DVC cache: every stage that does not read the VAE's params
    comes from the run-cache. Validate and the report rerun: their outputs persist, which DVC's
    run-cache never saves. Then, back at the first params, so do the VAE's stages."""
    first = run(["git", "rev-list", "--max-parents=0", "HEAD"], pipeline).stdout.strip()
    clone = shared_cache_clone(pipeline, tmp_path / "clone", first)
    everything = {"validate", "download", "judge", "balls", "calibrate", "report"} | per_model(
        ("train", "evaluate", "render", "interpolate")
    )
    vae = per_model(("train", "evaluate", "render", "interpolate"), ["vae"])
    set_params(clone, **{"vae.lr": 0.002})
    ran, cached = ran_and_cached(dvc("repro", cwd=clone).stdout)
    assert ran == {"validate", "report"} | vae
    assert cached == everything - ran
    run(["git", "checkout", "params.yaml"], clone)
    ran, cached = ran_and_cached(dvc("repro", cwd=clone).stdout)
    assert ran == {"validate", "report"} and vae <= cached
    assert output_hashes(clone) == output_hashes(pipeline)


def test_applying_a_one_seed_experiment_leaves_a_clean_workspace(pipeline: Path, tmp_path) -> None:
    """Issue 24: a quick experiment of one seed applied over the two-seed workspace leaves no file
    of seed 2, and `dvc status` is clean (every per-model output is a whole cached folder)."""
    head = run(["git", "rev-parse", "HEAD"], pipeline).stdout.strip()
    clone = shared_cache_clone(pipeline, tmp_path / "clone", head)
    dvc("checkout", cwd=clone)
    dvc("exp", "run", "--temp", "-S", "seeds=[1]", "-n", "one-seed", cwd=clone)
    dvc("exp", "apply", "one-seed", cwd=clone)
    assert stale_stages(clone) == set()
    assert yaml.safe_load((clone / "params.yaml").read_text())["seeds"] == [1]
    left = [p for m in MODELS for top in ("runs", "maps") for p in (clone / top / m).rglob("*2*")]
    assert left == []

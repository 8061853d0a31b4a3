"""`make compare` (scripts/compare.py) on `dvc exp show --json` output made here; the real DVC
output is read in tests/test_pipeline.py."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from latentlab.analysis.metrics import METRICS
from latentlab.core import params
from latentlab.report.comparison import CLAIMS
from scripts import compare

REPO = Path(__file__).resolve().parents[1]

PARAMS = {"seeds": [1, 2], "vae": {"lr": 0.001, "epochs": 10}, "ae": {"epochs": 10}}
HEADLINE = {
    "judge_accuracy": 0.88,
    "ae": {"test_bce": 309.0, "coverage": 0.015},
    "vae": {"test_bce": 258.35, "frechet_distance": 98.6, "codes_in_square": 0.9996},
}
VERDICTS = {
    "vae": {"ae": {"kinds": "supported", "kinds_own": "mixed", "smooth": "not decided"}},
    "mechanism": {"kinds": "prior term alone"},
}


def entry(
    rev: str,
    name: str | None,
    params: dict[str, Any] | None = None,
    headline: dict[str, Any] | None = None,
    verdicts: dict[str, Any] | None = None,
    experiments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One commit or experiment as `dvc exp show --json` gives it (headline None: no results)."""
    metrics = {}
    if headline is not None:
        metrics["reports/metrics.json"] = {"data": headline}
        metrics["reports/verdicts.json"] = {"data": verdicts or {}}
    data = {"rev": rev, "params": {"params.yaml": {"data": params or PARAMS}}, "metrics": metrics}
    return {"rev": rev, "name": name, "error": None, "data": data, "experiments": experiments}


def experiment(rev: str, name: str, **kwargs: Any) -> dict[str, Any]:
    return {"name": name, "executor": None, "revs": [entry(rev, name, **kwargs)]}


def changed(section: str, key: str, value: Any) -> dict[str, Any]:
    params = {k: dict(v) if isinstance(v, dict) else v for k, v in PARAMS.items()}
    params[section][key] = value
    return params


def vae_headline(**values: float) -> dict[str, Any]:
    return {**HEADLINE, "vae": {**HEADLINE["vae"], **values}}


def shown(workspace_headline: dict[str, Any] = HEADLINE) -> list[dict[str, Any]]:
    """The workspace (as committed unless told), its baseline `main` and three experiments."""
    experiments = [
        experiment(
            "b" * 40,
            "lr-high",
            params=changed("vae", "lr", 0.003),
            headline=vae_headline(test_bce=250.0),
            verdicts={"vae": {"ae": {**VERDICTS["vae"]["ae"], "kinds": "mixed"}}},
        ),
        experiment("c" * 40, "muley-cols", params=changed("ae", "epochs", 2), headline=HEADLINE),
        experiment("d" * 40, "queued-one"),
    ]
    return [
        entry("workspace", None, headline=workspace_headline, verdicts=VERDICTS),
        entry("a" * 40, "main", headline=HEADLINE, verdicts=VERDICTS, experiments=experiments),
    ]


def test_every_run_with_results_and_the_pending_ones():
    runs, pending = compare.runs_of(shown())
    assert [r.name for r in runs] == ["workspace", "main", "lr-high", "muley-cols"]
    assert pending == ["queued-one"]
    lr_high = runs[2]
    assert (lr_high.baseline, lr_high.short) == ("main", "bbbbbbb")
    assert lr_high.params["vae.lr"] == "0.003" and lr_high.params["seeds"] == "[1, 2]"
    assert lr_high.headline["vae.test_bce"] == 250.0
    assert lr_high.verdicts["vae.ae.kinds"] == "mixed"


def test_without_names_a_baseline_like_the_workspace_is_left_out():
    runs, _ = compare.runs_of(shown())
    assert [r.name for r in compare.select(runs, [])] == ["workspace", "lr-high", "muley-cols"]
    runs, _ = compare.runs_of(shown(vae_headline(test_bce=260.0)))
    assert "main" in [r.name for r in compare.select(runs, [])]


def test_names_pick_runs_by_name_or_commit_beside_the_workspace():
    runs, _ = compare.runs_of(shown())
    assert [r.name for r in compare.select(runs, ["cccc", "main"])] == [
        "workspace",
        "muley-cols",
        "main",
    ]
    assert compare.missing(runs, ["lr-high", "nope", "d" * 40]) == ["nope", "d" * 40]


def test_only_the_params_that_differ_are_rows():
    runs, _ = compare.runs_of(shown())
    assert compare.param_rows(runs) == [
        ["vae.lr", "0.001", "0.001", "0.003", "0.001"],
        ["ae.epochs", "10", "10", "10", "2"],
    ]


def test_each_headline_metric_says_which_direction_is_better():
    runs, _ = compare.runs_of(shown())
    rows = {row[0]: row[1:] for row in compare.metric_rows(runs[:3])}
    assert rows["judge_accuracy"] == ["higher", "0.88", "0.88", "0.88"]
    assert rows["vae.test_bce"] == ["lower", "258.4", "258.4", "250"]
    assert rows["vae.frechet_distance"][0] == "lower"
    assert rows["vae.codes_in_square"][0] == "higher"


def test_verdict_rows_name_the_claim_the_square_and_the_models():
    runs, _ = compare.runs_of(shown())
    assert compare.verdict_rows(runs[1:3]) == [
        ["kinds: vae vs ae", "supported", "mixed"],
        ["kinds, own squares: vae vs ae", "mixed", "mixed"],
        ["smooth: vae vs ae", "not decided", "not decided"],
        ["kinds: what carries it (2 x 2)", "prior term alone", "-"],  # the run holds none
    ]


def test_many_runs_fit_100_columns_in_blocks():
    experiments = [
        experiment(
            f"{i:x}" * 40,
            f"sweep-lr-{i}",
            params=changed("vae", "lr", i / 1000),
            headline=HEADLINE,
            verdicts=VERDICTS,
        )
        for i in range(1, 10)
    ]
    main = entry("a" * 40, "main", headline=HEADLINE, verdicts=VERDICTS, experiments=experiments)
    runs, _ = compare.runs_of([main])
    text = compare.render(runs, [])
    assert max(map(len, text.splitlines())) <= compare.WIDTH
    headers = [line.split() for line in text.splitlines() if line.startswith("param ")]
    assert len(headers) > 1  # the runs did not fit in one block
    assert [name for h in headers for name in h[1:]] == [r.name for r in runs]
    assert text.count("not decided") == len(runs)


def test_an_unknown_name_is_refused_naming_it(capsys):
    runs, _ = compare.runs_of(shown())
    with pytest.raises(SystemExit) as stop:
        compare.select(runs, ["nope"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no experiment or commit with results is named 'nope'")
    assert err.count("\n") == 1


def test_the_exp_show_recipe_keeps_the_params_and_drops_every_other_column():
    """`make exps`: DVC's table with the params that differ and nothing else (DVC drops a column
    whose name its pattern matches from the start, `re.match`)."""
    dry_run = subprocess.run(
        ["make", "-s", "-n", "exps"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    drop = re.compile(re.search(r"--drop '([^']*)'", dry_run).group(1))
    models = params.declared_models(REPO / "dvc.yaml")
    headline = ["judge_accuracy"] + [
        f"{model}.{m.name}"
        for model in models
        for m in METRICS
        if m.headline and m.stage != "judge"
    ]
    verdicts = [
        f"{v}.{a}.{c.key}{own}"
        for v in models
        for a in models
        for c in CLAIMS
        for own in ("", "_own")
    ]
    text = (REPO / "dvc.yaml").read_text()
    deps = {
        dep.replace("${item}", model)
        for stage in yaml.safe_load(text)["stages"].values()
        for dep in stage.get("do", stage).get("deps", [])
        for model in models
    }
    kept = [c for c in [*headline, *verdicts, *sorted(deps), "Created"] if not drop.match(c)]
    assert kept == [], f"the Makefile's EXP_SHOW_DROP keeps {kept}"
    every_param = compare.flatten(yaml.safe_load((REPO / "params.yaml").read_text()))
    assert [k for k in every_param if drop.match(k)] == []


def test_runs_that_share_a_name_are_told_apart_by_their_commit():
    twice = [
        entry(
            "a" * 40,
            "main",
            headline=HEADLINE,
            experiments=[experiment("b" * 40, "lr-high", headline=HEADLINE)],
        ),
        entry(
            "e" * 40,
            None,
            headline=HEADLINE,
            experiments=[experiment("f" * 40, "lr-high", headline=HEADLINE)],
        ),
    ]
    runs, _ = compare.runs_of(twice)
    assert compare.headers(runs) == ["main", "lr-high@bbbbbbb", "eeeeeee", "lr-high@fffffff"]

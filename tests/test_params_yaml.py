"""params.yaml read as DVC reads it (issue 23, items 1, 9 and 11): every scalar form means to the
stages what it means to DVC or is refused, and a file that cannot be read so ends in one line.

DVC parses params.yaml with ruamel.yaml's safe loader (YAML 1.2); the stages used to parse it
with PyYAML (YAML 1.1), so that `data.limit: 02000` was 2000 to `dvc params diff` and 1024 to the
train stage. Here DVC's own loader is the reference.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import write_params
from dvc.utils.serialize import parse_yaml as dvc_parse_yaml

from latentlab.core import params
from latentlab.core.errors import UserError

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "dvc.yaml"
MARK = "@placeholder@"


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (1 == 1.0 == True is not enough here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def params_text(repo_params: dict[str, Any], key: str, written: str) -> str:
    """The repository's params.yaml with the dotted `key` written as the YAML text `written`."""
    raw = params.parse_yaml(params.dump_yaml(repo_params), "copy")
    *parents, last = key.split(".")
    node = raw
    for part in parents:
        node = node[part]
    node[last] = MARK
    text = params.dump_yaml(raw)
    assert text.count(f"'{MARK}'") == 1  # a plain scalar cannot start with @: it is quoted
    return text.replace(f"'{MARK}'", written)


def dotted(raw: Any, key: str) -> Any:
    for part in key.split("."):
        raw = raw[part]
    return raw


def typed(p: params.Params, key: str) -> Any:
    head, _, rest = key.partition(".")
    node = p.models[head] if head in p.models else getattr(p, head)
    return getattr(node, rest) if rest else node


# Scalars that YAML 1.1 and 1.2 read differently, or that look like a number and are not one.
FORMS = [
    ("data.limit", "02000"),  # 1.1: octal 1024; 1.2: 2000
    ("data.limit", "0o3720"),  # 1.2's octal
    ("data.limit", "0x7d0"),
    ("data.limit", "0b11111010000"),
    ("data.limit", "2_000"),
    ("data.limit", "+2000"),
    ("data.limit", "1:20"),  # 1.1: sexagesimal 80; 1.2: a string
    ("data.limit", "2e3"),  # a float
    ("data.limit", "2000.0"),
    ("data.limit", "yes"),  # 1.1: true; 1.2: a string
    ("data.limit", "~"),
    ("data.limit", "!!int 2000"),
    ("data.limit", "'2000'"),
    ("report.figure_dpi", "0156"),  # 1.1: 110
    ("report.figure_dpi", "1_10"),
    ("vae.lr", "1e-3"),  # 1.1: a string
    ("vae.lr", "1E-3"),
    ("vae.lr", ".001"),
    ("vae.lr", "0x1"),
    ("vae.lr", ".inf"),
    ("vae.lr", ".NaN"),
    ("vae.beta", "1e0"),
    ("vae.beta", "on"),
    ("vae.beta", "0o1"),
    ("device", "no"),
    ("device", "off"),
    ("device", "null"),
    ("device", "!!str cpu"),
    ("seeds", "[1, 0o2, 0x3]"),
    ("seeds", "[1_000, 02]"),
    ("seeds", "[1:2]"),
    ("latent_map.range", "-.inf"),
    ("latent_map.range", "1.0e+300"),
    ("latent_map.range", "0x4"),
    ("latent_map.own_percentile", "1:2"),
    ("judge.seeds", "[01, 02, 03]"),
    ("judge.seeds", "!!set {1, 2}"),
    ("judge.seeds", "2024-01-01"),
]


@pytest.mark.parametrize(("key", "written"), FORMS, ids=[f"{k}={w}" for k, w in FORMS])
def test_each_form_means_what_it_means_to_dvc_or_is_refused(tmp_path, repo_params, key, written):
    path = tmp_path / "params.yaml"
    path.write_text(params_text(repo_params, key, written))
    dvc_raw = dvc_parse_yaml(path.read_text(), str(path))
    assert same(params.read_yaml(path), dvc_raw)  # the same reading, type for type
    try:
        p = params.load(path, PIPELINE)
    except UserError as err:
        assert str(err).startswith(f"params.yaml: {key}"), err
        return
    value = dotted(dvc_raw, key)
    assert typed(p, key) == value and not isinstance(value, bool)  # an int may be a float's


def test_a_yaml_1_1_directive_is_read_as_dvc_reads_it(tmp_path, repo_params):
    """`%YAML 1.1` asks both readers for YAML 1.1: 0156 is 110 to DVC and to the stages alike."""
    path = tmp_path / "params.yaml"
    path.write_text("%YAML 1.1\n---\n" + params_text(repo_params, "report.figure_dpi", "0156"))
    assert dvc_parse_yaml(path.read_text(), str(path))["report"]["figure_dpi"] == 110
    assert params.load(path, PIPELINE).report.figure_dpi == 110


def test_dvc_records_the_values_the_stages_use(tmp_path, repo_params):
    """In a DVC repository, `dvc.api.params_show` (what dvc.lock records) and the stages agree on
    a params.yaml written in every accepted odd form."""
    import dvc.api
    from dvc.repo import Repo

    text = params.dump_yaml(repo_params)
    for old, new in [
        ("limit: 0\n", "limit: 0o3720\n"),
        ("figure_dpi: 110\n", "figure_dpi: 0156\n"),
        ("lr: 0.001\n", "lr: 1e-3\n"),
        ("pairs: 200\n", "pairs: 2_00\n"),
        ("grid: 21\n", "grid: 0x15\n"),
    ]:
        assert old in text
        text = text.replace(old, new, 1)
    (tmp_path / "params.yaml").write_text(text)
    (tmp_path / "dvc.yaml").write_text(PIPELINE.read_text())
    Repo.init(str(tmp_path), no_scm=True)
    shown = dvc.api.params_show(repo=str(tmp_path))
    p = params.load(tmp_path / "params.yaml", tmp_path / "dvc.yaml")
    assert shown["data"]["limit"] == p.limit == 2000
    assert shown["report"]["figure_dpi"] == p.report.figure_dpi == 156
    assert shown["ae"]["lr"] == p.model("ae").lr == 0.001
    assert shown["interpolate"]["pairs"] == p.interpolate.pairs == 200
    assert shown["latent_map"]["grid"] == p.latent_map.grid == 21


def test_a_key_given_twice_is_refused_as_dvc_refuses_it(tmp_path):
    path = tmp_path / "params.yaml"
    text = (REPO / "params.yaml").read_text() + "seeds: [9]\n"
    path.write_text(text)
    with pytest.raises(Exception) as dvc_refusal:
        dvc_parse_yaml(text, str(path))
    assert "found duplicate key" in str(dvc_refusal.value.__cause__)
    with pytest.raises(UserError) as info:
        params.load(path, PIPELINE)
    message = str(info.value)
    line = text.count("\n")  # the last line holds the second `seeds`
    assert message.startswith(f'{path} is not valid YAML: found duplicate key "seeds"')
    assert message.endswith(f", line {line}") and "\n" not in message


def test_a_merge_key_may_override_what_it_brings_in(tmp_path):
    text = (REPO / "params.yaml").read_text()
    text = text.replace("\nae:", "\nae: &ae", 1)
    start = text.index("\nae_wide:")
    end = re.compile(r"\n[^\s#]").search(text, start + 1).start()  # the next top-level key
    path = tmp_path / "params.yaml"
    path.write_text(text[:start] + "\nae_wide:\n  <<: *ae\n  hidden: [512]\n" + text[end:])
    p = params.load(path, PIPELINE)
    assert p.model("ae_wide").kind == "ae" and p.model("ae_wide").hidden == [512]
    assert dvc_parse_yaml(path.read_text(), str(path))["ae_wide"]["hidden"] == [512]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "is empty; it must hold the sections data, device, precision, memory_gib, seeds"),
        ("# nothing but a comment\n", "is empty"),
        ("data:\n  sources: [unclosed\nseeds: [1]\n", "is not valid YAML: while parsing a flow"),
        ("a:\n\tb: 1\n", "is not valid YAML: while scanning for the next token"),
        ("a: \x07\n", "is not valid YAML: unacceptable character #x0007"),
    ],
    ids=["empty", "comment", "unclosed", "tab", "control-character"],
)
def test_an_empty_or_broken_file_is_refused_in_one_line(tmp_path, text, words):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as info:
        params.load(path, PIPELINE)
    assert str(info.value).startswith(str(path)) and words in str(info.value)
    assert "\n" not in str(info.value)


def test_an_unhashable_key_is_a_key_that_is_not_known(tmp_path, repo_params):
    path = tmp_path / "params.yaml"
    path.write_text(params.dump_yaml(repo_params) + "? [1, 2]\n: 3\n")
    with pytest.raises(UserError, match=r"^params\.yaml: \(1, 2\) is not a known key; params"):
        params.load(path, PIPELINE)


def test_a_file_that_is_not_utf8_or_not_a_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_bytes(b"seeds: [1]\ndevice: \xff\n")
    with pytest.raises(UserError, match=r"params\.yaml is not UTF-8 text \(byte 19\)$"):
        params.load(path, PIPELINE)
    path.unlink()
    path.mkdir()
    with pytest.raises(UserError, match=r"params\.yaml cannot be read \(Is a directory\)$"):
        params.load(path, PIPELINE)


def test_yaml_tags_are_not_executed(tmp_path):
    path = tmp_path / "params.yaml"
    marker = tmp_path / "executed"
    path.write_text(f"data: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(UserError, match="not valid YAML: could not determine a constructor"):
        params.load(path, PIPELINE)
    assert not marker.exists()
    pipeline = tmp_path / "dvc.yaml"
    pipeline.write_text(f"vars: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(UserError, match="not valid YAML"):
        params.declared_models(pipeline)
    assert not marker.exists()


def test_missing_params_file(tmp_path):
    path = tmp_path / "params.yaml"
    with pytest.raises(UserError, match=r"params\.yaml is missing; run stages from the repo"):
        params.load(path, PIPELINE)


# Files that crash a YAML reader, and the one line that each stage ends in instead.
HUGE_INT = ("data.limit", "9" * 5000, "is not valid YAML: Exceeds the limit (4300 digits)")
DEEP = ("seeds", "[" * 3000 + "]" * 3000, "nests its values deeper than Python can read")


@pytest.mark.parametrize(
    ("stage", "key", "written", "words"),
    [(["validate"], *HUGE_INT), (["train", "ae"], *HUGE_INT), (["validate"], *DEEP)],
    ids=["huge-int-validate", "huge-int-train", "deep-validate"],  # train reads as validate does
)
def test_a_file_no_reader_can_hold_stops_a_stage_in_one_line(
    stage_dir, run_stage, repo_params, stage, key, written, words
):
    (stage_dir / "params.yaml").write_text(params_text(repo_params, key, written))
    before = sorted(p.name for p in stage_dir.iterdir())
    result = run_stage(stage_dir, *stage)
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"error: params.yaml {words}" + result.stderr.split(words)[1]
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert sorted(p.name for p in stage_dir.iterdir()) == before  # no runs/, no output


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("device", "\u0441pu", "device is '\\u0441pu', but it must be one of auto, cpu, cuda"),
        ("precision", "bf16\u200b", "precision is 'bf16\\u200b', but it must be one of"),
        (
            "judge.seeds",
            ["\u0661"],
            "judge.seeds[0] is '\\u0661', but it must be a positive integer",
        ),  # an Arabic-Indic 1
    ],
    ids=["cyrillic-c", "zero-width-space", "arabic-digit"],
)
def test_odd_characters_are_shown_escaped(stage_dir, run_stage, repo_params, key, value, shown):
    """A value that looks valid is shown as ascii() writes it, so the reader sees what is wrong."""
    raw = params.parse_yaml(params.dump_yaml(repo_params), "copy")
    *parents, last = key.split(".")
    node = raw
    for part in parents:
        node = node[part]
    node[last] = value
    write_params(stage_dir, raw)
    result = run_stage(stage_dir, "validate")
    assert result.returncode == 2
    assert result.stderr.isascii() and shown in result.stderr, result.stderr
    assert not (stage_dir / "runs").exists()


@pytest.mark.parametrize(
    ("old", "new", "shown"),
    [
        ("device:", "dev\u200bice:", "'dev\\u200bice' is not a known key; params.yaml takes"),
        ("  lr:", "  l\u0280:", "ae.'l\\u0280' is not a known key; ae takes"),  # a small capital R
    ],
    ids=["top-level", "in-a-section"],
)
def test_a_key_with_odd_characters_is_shown_escaped(stage_dir, run_stage, old, new, shown):
    text = (stage_dir / "params.yaml").read_text().replace(old, new, 1)
    (stage_dir / "params.yaml").write_text(text)
    result = run_stage(stage_dir, "validate")
    assert result.returncode == 2 and result.stderr.isascii()
    assert result.stderr.startswith(f"error: params.yaml: {shown}"), result.stderr
    assert not (stage_dir / "runs").exists()

"""Issue "bad parameters": every rule of latentlab/params.py, its message, and its boundaries."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from latentlab import params
from latentlab.errors import UserError


class _Delete:
    def __repr__(self) -> str:
        return "<deleted>"


DELETE = _Delete()  # as a value: remove the key


def mutate(raw: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Set (or with DELETE remove) the dotted key `key` of a loaded params.yaml."""
    *parents, last = key.split(".")
    node = raw
    for part in parents:
        node = node[part]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return raw


def assert_one_sentence(message: str) -> None:
    """A message is one line and one sentence: no line break, no full stop inside it."""
    assert "\n" not in message
    assert not re.search(r"[.!?]\s+[A-Z]", message), message


# (dotted key, bad value, words the message must contain). The words name the key and what is
# allowed; "vae" stands for any model section (ae and ae_wide get the same rules, see below).
BAD = [
    # a model's section
    ("vae.kind", "gan", ["vae.kind", "'gan'", "one of ae, vae"]),
    ("vae.kind", 1, ["vae.kind", "one of ae, vae"]),
    ("vae.latent_dim", 3, ["vae.latent_dim", "must be 2", "map needs a 2-D code"]),
    ("vae.latent_dim", 64, ["vae.latent_dim", "must be 2", "2-D code"]),
    ("vae.latent_dim", 0, ["vae.latent_dim", "positive integer"]),
    ("vae.latent_dim", "2", ["vae.latent_dim", "positive integer"]),
    ("vae.latent_dim", 2.0, ["vae.latent_dim", "positive integer"]),
    ("vae.latent_dim", True, ["vae.latent_dim", "positive integer"]),
    ("vae.hidden", 512, ["vae.hidden", "list of positive integers"]),
    ("vae.hidden", "512", ["vae.hidden", "list of positive integers"]),
    ("vae.hidden", None, ["vae.hidden", "list of positive integers"]),
    ("vae.hidden", [512, 0], ["vae.hidden[1]", "positive integer"]),
    ("vae.hidden", [-512], ["vae.hidden[0]", "positive integer"]),
    ("vae.hidden", [512.0], ["vae.hidden[0]", "positive integer"]),
    ("vae.hidden", [True], ["vae.hidden[0]", "positive integer"]),
    ("vae.hidden", ["512"], ["vae.hidden[0]", "positive integer"]),
    ("vae.epochs", 0, ["vae.epochs", "positive integer"]),
    ("vae.epochs", -1, ["vae.epochs", "positive integer"]),
    ("vae.epochs", 1.5, ["vae.epochs", "positive integer"]),
    ("vae.epochs", "10", ["vae.epochs", "positive integer"]),
    ("vae.epochs", True, ["vae.epochs", "True", "positive integer"]),
    ("vae.batch_size", 0, ["vae.batch_size", "positive integer"]),
    ("vae.batch_size", 256.0, ["vae.batch_size", "positive integer"]),
    ("vae.batch_size", False, ["vae.batch_size", "positive integer"]),
    ("vae.lr", 0, ["vae.lr", "positive number"]),
    ("vae.lr", -0.001, ["vae.lr", "positive number"]),
    ("vae.lr", "fast", ["vae.lr", "'fast'", "positive number"]),
    ("vae.lr", "-1e-3", ["vae.lr", "positive number"]),
    ("vae.lr", True, ["vae.lr", "positive number"]),
    ("vae.lr", None, ["vae.lr", "positive number"]),
    ("vae.lr", float("inf"), ["vae.lr", "positive number"]),
    ("vae.lr", float("nan"), ["vae.lr", "positive number"]),
    ("vae.lr", [0.001], ["vae.lr", "positive number"]),
    ("vae", None, ["vae", "mapping", "kind, latent_dim, hidden, epochs, batch_size, lr"]),
    ("vae.dropout", 0.1, ["vae.dropout", "not a known key", "kind, latent_dim"]),
    ("vae.lr", DELETE, ["vae.lr", "missing", "kind, latent_dim, hidden, epochs, batch_size, lr"]),
    ("vae.kind", DELETE, ["vae.kind", "missing"]),
    # data
    ("data.limit", -1, ["data.limit", "integer >= 0"]),
    ("data.limit", 0.5, ["data.limit", "integer >= 0"]),
    ("data.limit", True, ["data.limit", "integer >= 0"]),
    ("data.limit", "1000", ["data.limit", "integer >= 0"]),
    ("data.sources", [], ["data.sources", "non-empty list", "torchvision"]),
    ("data.sources", "/usr/share/datasets/fashion-mnist", ["data.sources", "list"]),
    ("data.sources", [1], ["data.sources", "list of folders"]),
    ("data.sources", None, ["data.sources", "list of folders"]),
    ("data.mirror", "x", ["data.mirror", "not a known key", "sources, limit"]),
    ("data.limit", DELETE, ["data.limit", "missing", "sources, limit"]),
    ("data", [], ["data", "mapping", "sources, limit"]),
    # device
    ("device", "gpu", ["device", "'gpu'", "one of auto, cpu, cuda"]),
    ("device", "CUDA", ["device", "one of auto, cpu, cuda"]),
    ("device", "cuda:0", ["device", "one of auto, cpu, cuda"]),
    ("device", None, ["device", "one of auto, cpu, cuda"]),
    ("device", DELETE, ["device", "missing"]),
    # seeds
    ("seeds", [], ["seeds", "list of positive integers", "not empty"]),
    ("seeds", 1, ["seeds", "list of positive integers"]),
    ("seeds", [0], ["seeds[0]", "positive integer"]),
    ("seeds", [1, -2], ["seeds[1]", "positive integer"]),
    ("seeds", [1, 2.5], ["seeds[1]", "positive integer"]),
    ("seeds", [True], ["seeds[0]", "positive integer"]),
    ("seeds", [1, 2, 1], ["seeds", "without repeats"]),
    ("seeds", DELETE, ["seeds", "missing"]),
    # models
    ("models", [], ["models", "non-empty list"]),
    ("models", "vae", ["models", "'vae'", "non-empty list"]),
    ("models", None, ["models", "non-empty list"]),
    ("models", ["ae", "vae", "gan"], ["models lists gan", "no gan section", "kind, latent_dim"]),
    ("models", ["ae", "vae", "vae"], ["models", "without repeats"]),
    ("models", ["ae", 3], ["models[1]", "section name"]),
    ("models", ["vae", "data"], ["models[1]", "'data'", "not a built-in key"]),
    ("models", ["vae", "my-vae"], ["models[1]", "letters, digits, _"]),
    ("models", DELETE, ["models", "missing"]),
    ("vae", DELETE, ["models lists vae", "no vae section"]),
    ("ae_wide", DELETE, ["models lists ae_wide", "no ae_wide section"]),
    # latent_map
    ("latent_map.grid", 1, ["latent_map.grid", "integer >= 2"]),
    ("latent_map.grid", 0, ["latent_map.grid", "integer >= 2"]),
    ("latent_map.grid", 21.0, ["latent_map.grid", "integer >= 2"]),
    ("latent_map.grid", True, ["latent_map.grid", "integer >= 2"]),
    ("latent_map.range", 0, ["latent_map.range", "positive number"]),
    ("latent_map.range", -4, ["latent_map.range", "positive number"]),
    ("latent_map.range", "wide", ["latent_map.range", "positive number"]),
    ("latent_map.range", DELETE, ["latent_map.range", "missing", "grid, range"]),
    ("latent_map.size", 21, ["latent_map.size", "not a known key", "grid, range"]),
    # judge, evaluate, report
    ("judge.channels", 0, ["judge.channels", "positive integer"]),
    ("judge.epochs", 0, ["judge.epochs", "positive integer"]),
    ("judge.batch_size", -128, ["judge.batch_size", "positive integer"]),
    ("judge.lr", 0, ["judge.lr", "positive number"]),
    ("judge.seed", 0, ["judge.seed", "positive integer"]),
    ("judge.seed", True, ["judge.seed", "positive integer"]),
    ("judge.dropout", 0.5, ["judge.dropout", "not a known key"]),
    ("evaluate.iw_samples", 0, ["evaluate.iw_samples", "positive integer"]),
    ("evaluate.knn_k", 0, ["evaluate.knn_k", "positive integer"]),
    ("evaluate.knn_k", 2.5, ["evaluate.knn_k", "positive integer"]),
    ("latent_map.blank_std", 0, ["latent_map.blank_std", "positive number"]),
    ("latent_map.blank_std", -0.05, ["latent_map.blank_std", "positive number"]),
    ("latent_map.min_tiles", 0, ["latent_map.min_tiles", "positive integer"]),
    ("latent_map.min_tiles", DELETE, ["latent_map.min_tiles", "missing"]),
    ("report.figure_dpi", 0, ["report.figure_dpi", "positive integer"]),
    ("report.figure_dpi", "110", ["report.figure_dpi", "positive integer"]),
    ("report.style", "dark", ["report.style", "not a known key", "figure_dpi"]),
    # top level
    ("epochs", 10, ["epochs", "not a known key", "data, device, seeds, models"]),
    ("latent_maps", {"grid": 21}, ["latent_maps", "not a known key"]),
    ("judge", DELETE, ["judge", "missing", "data, device, seeds, models"]),
    ("report", DELETE, ["report", "missing"]),
]


@pytest.mark.parametrize(("key", "value", "words"), BAD, ids=[f"{k}={v!r}" for k, v, _ in BAD])
def test_bad_value_is_refused_in_one_sentence(default_params, key, value, words):
    with pytest.raises(UserError) as info:
        params.validate(mutate(default_params, key, value))
    message = str(info.value)
    assert message.startswith("params.yaml: ")
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert_one_sentence(message)


# Values on the allowed side of each boundary (and the odd forms that are meant to pass).
GOOD = [
    ("vae.latent_dim", 2),
    ("vae.hidden", []),
    ("vae.hidden", [1]),
    ("vae.hidden", [1024, 256, 64]),
    ("vae.epochs", 1),
    ("vae.batch_size", 1),
    ("vae.lr", 1e-12),
    ("vae.lr", "1e-3"),  # PyYAML reads 1e-3 (no dot) as a string
    ("vae.lr", 1),
    ("data.limit", 0),
    ("data.limit", 1),
    ("data.sources", ["torchvision"]),
    ("device", "auto"),
    ("device", "cpu"),
    ("device", "cuda"),  # valid as a value; whether a GPU is visible is the train stage's business
    ("seeds", [1]),
    ("seeds", [3, 1, 2]),
    ("models", ["vae"]),  # the other model sections may stay, set aside
    ("latent_map.grid", 2),
    ("latent_map.range", 1e-3),
    ("latent_map.range", 4),
    ("judge.seed", 1),
    ("evaluate.iw_samples", 1),
    ("latent_map.blank_std", 1e-9),
    ("report.figure_dpi", 1),
]


@pytest.mark.parametrize(("key", "value"), GOOD, ids=[f"{k}={v!r}" for k, v in GOOD])
def test_boundary_value_is_accepted(default_params, key, value):
    p = params.validate(mutate(default_params, key, value))
    if key.startswith("vae."):
        field = key.split(".")[1]
        got = getattr(p.models["vae"], field)
        assert got == (float(value) if field == "lr" else value)
    elif key == "latent_map.grid":
        assert p.latent_map.grid == value
    elif key == "seeds":
        assert p.seeds == value
    elif key == "models":
        assert list(p.models) == value


def test_shipped_params_are_valid_and_typed(repo_params):
    p = params.validate(repo_params)
    assert set(p.models) == set(repo_params["models"])
    for name, m in p.models.items():
        assert m.name == name
        assert m.latent_dim == 2
        assert isinstance(m.lr, float) and m.lr > 0
    assert p.latent_map.grid >= 2 and p.latent_map.range > 0


@pytest.mark.parametrize("model", ["ae", "ae_wide"])
def test_every_model_section_gets_the_same_rules(default_params, model):
    if model not in default_params["models"]:
        pytest.skip(f"{model} is not in the shipped params.yaml")
    with pytest.raises(UserError, match=rf"{model}\.latent_dim is 3.*2-D code"):
        params.validate(mutate(default_params, f"{model}.latent_dim", 3))
    default_params[model]["latent_dim"] = 2
    with pytest.raises(UserError, match=rf"{model}\.hidden\[0\] is 0"):
        params.validate(mutate(default_params, f"{model}.hidden", [0]))


def test_model_section_left_out_of_models_is_still_checked(default_params):
    default_params["models"] = ["vae"]
    default_params["ae"]["epochs"] = 0
    with pytest.raises(UserError, match=r"ae\.epochs is 0, but it must be a positive integer"):
        params.validate(default_params)


def test_lr_string_from_yaml_becomes_a_float(tmp_path):
    text = (Path(__file__).resolve().parents[1] / "params.yaml").read_text()
    raw = yaml.safe_load(text)
    raw["vae"]["lr"] = "2e-3"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw).replace("'2e-3'", "2e-3"))
    assert yaml.safe_load(path.read_text())["vae"]["lr"] == "2e-3"  # PyYAML's reading
    assert params.load(path).models["vae"].lr == 2e-3


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (None, ["params.yaml", "mapping", "data, device"]),  # an empty file
        ([1, 2], ["params.yaml", "mapping"]),
        ("epochs: 3", ["params.yaml", "mapping"]),
    ],
)
def test_whole_file_not_a_mapping(raw, words):
    with pytest.raises(UserError) as info:
        params.validate(raw)
    for word in words:
        assert word in str(info.value)
    assert_one_sentence(str(info.value))


def test_unknown_model_on_the_command_line(default_params):
    p = params.validate(default_params)
    with pytest.raises(UserError, match=r"unknown model 'gan'.*models"):
        p.model("gan")
    assert p.model("vae").kind == "vae"


def test_invalid_yaml_is_a_user_error(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("data:\n  sources: [unclosed\nseeds: [1]\n")
    with pytest.raises(UserError) as info:
        params.load(path)
    message = str(info.value)
    assert str(path) in message and "not valid YAML" in message
    assert "\n" not in message


def test_yaml_tags_are_not_executed(tmp_path):
    path = tmp_path / "params.yaml"
    marker = tmp_path / "executed"
    path.write_text(f"data: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(UserError, match="not valid YAML"):
        params.load(path)
    assert not marker.exists()


def test_missing_params_file(tmp_path):
    path = tmp_path / "params.yaml"
    with pytest.raises(UserError) as info:
        params.load(path)
    assert str(path) in str(info.value) and "missing" in str(info.value)
    assert_one_sentence(str(info.value))

"""params.yaml: loading it safely and refusing any value a stage could not use, before any work."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from latentlab.errors import UserError

PARAMS_FILE = Path("params.yaml")
MODEL_KINDS = ("ae", "vae")
DEVICES = ("auto", "cpu", "cuda")
MAP_LATENT_DIM = 2


@dataclass(frozen=True)
class ModelParams:
    """One model's section: its architecture and how it is trained."""

    name: str
    kind: str
    latent_dim: int
    hidden: list[int]
    epochs: int
    batch_size: int
    lr: float


@dataclass(frozen=True)
class JudgeParams:
    """The classifier that measures the maps."""

    channels: int
    epochs: int
    batch_size: int
    lr: float
    seed: int


@dataclass(frozen=True)
class EvaluateParams:
    """How the latent spaces are measured on the test set."""

    iw_samples: int
    knn_k: int


@dataclass(frozen=True)
class MapParams:
    """The latent map: its grid, and the thresholds of the measures taken on its tiles."""

    grid: int
    range: float
    blank_std: float
    min_tiles: int


@dataclass(frozen=True)
class Params:
    """The whole of params.yaml, validated."""

    sources: list[str]
    limit: int
    device: str
    seeds: list[int]
    models: dict[str, ModelParams]
    latent_map: MapParams
    judge: JudgeParams
    evaluate: EvaluateParams
    figure_dpi: int

    def model(self, name: str) -> ModelParams:
        """The section of model `name`, or a UserError naming the models there are."""
        if name not in self.models:
            raise UserError(
                f"unknown model {name!r}; params.yaml `models` lists {list(self.models)}"
            )
        return self.models[name]


def _fail(key: str, value: Any, allowed: str) -> UserError:
    return UserError(f"params.yaml: {key} is {value!r}, but it must be {allowed}")


def _int(key: str, value: Any, minimum: int) -> int:
    # bool is an int in Python, but `epochs: true` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        allowed = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise _fail(key, value, allowed)
    return value


def _positive_float(key: str, value: Any) -> float:
    # PyYAML reads 1e-3 (no dot) as a string, so accept a string that is a number.
    try:
        number = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise _fail(key, value, "a positive number")
    return number


def _int_list(key: str, value: Any, minimum: int, allow_empty: bool) -> list[int]:
    if not isinstance(value, list) or (not value and not allow_empty):
        raise _fail(
            key, value, "a list of positive integers" + ("" if allow_empty else ", not empty")
        )
    return [_int(f"{key}[{i}]", v, minimum) for i, v in enumerate(value)]


TOP = "params.yaml"  # the key of the file's top level, whose keys are named bare


def _section(key: str, value: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """A mapping with exactly `fields` as keys."""
    if not isinstance(value, dict):
        raise _fail(key, value, f"a mapping with the keys {', '.join(fields)}")
    prefix = "" if key == TOP else f"{key}."
    unknown = sorted(set(value) - set(fields), key=str)
    if unknown:
        raise UserError(
            f"params.yaml: {prefix}{unknown[0]} is not a known key; {key} takes {', '.join(fields)}"
        )
    missing = [f for f in fields if f not in value]
    if missing:
        raise UserError(
            f"params.yaml: {prefix}{missing[0]} is missing; {key} needs {', '.join(fields)}"
        )
    return value


MODEL_FIELDS = ("kind", "latent_dim", "hidden", "epochs", "batch_size", "lr")
TOP_FIELDS = ("data", "device", "seeds", "models", "latent_map", "judge", "evaluate", "report")


def _model(name: str, raw: Any) -> ModelParams:
    s = _section(name, raw, MODEL_FIELDS)
    if s["kind"] not in MODEL_KINDS:
        raise _fail(f"{name}.kind", s["kind"], f"one of {', '.join(MODEL_KINDS)}")
    latent_dim = _int(f"{name}.latent_dim", s["latent_dim"], 1)
    if latent_dim != MAP_LATENT_DIM:
        raise UserError(
            f"params.yaml: {name}.latent_dim is {latent_dim}, but it must be {MAP_LATENT_DIM} "
            f"because the pipeline draws a latent map of every model, and a map needs a 2-D code"
        )
    return ModelParams(
        name=name,
        kind=s["kind"],
        latent_dim=latent_dim,
        hidden=_int_list(f"{name}.hidden", s["hidden"], 1, allow_empty=True),
        epochs=_int(f"{name}.epochs", s["epochs"], 1),
        batch_size=_int(f"{name}.batch_size", s["batch_size"], 1),
        lr=_positive_float(f"{name}.lr", s["lr"]),
    )


def _model_names(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise _fail("models", value, "a non-empty list of model section names")
    for i, name in enumerate(value):
        if not isinstance(name, str) or not name.isidentifier() or name in TOP_FIELDS:
            raise _fail(
                f"models[{i}]", name, "a section name (letters, digits, _), not a built-in key"
            )
    if len(set(value)) != len(value):
        raise _fail("models", value, "a list without repeats")
    return value


def _is_unlisted_model(key: Any, value: Any, listed: list[str]) -> bool:
    return (
        isinstance(key, str)
        and key not in TOP_FIELDS
        and key not in listed
        and isinstance(value, dict)
        and "kind" in value
    )


def validate(raw: Any) -> Params:
    """Check every value of a loaded params.yaml and return them typed; UserError on a bad one."""
    # `models` first: it says which other top-level keys there must be.
    model_names = _model_names(raw["models"]) if isinstance(raw, dict) and "models" in raw else []
    for name in model_names:
        if name not in raw:
            raise UserError(
                f"params.yaml: models lists {name}, but there is no {name} section; add one "
                f"with the keys {', '.join(MODEL_FIELDS)} or take {name} out of models"
            )
    # A model section left out of `models` (set aside for now) is allowed, and still checked.
    unlisted = (
        [k for k, v in raw.items() if _is_unlisted_model(k, v, model_names)]
        if isinstance(raw, dict)
        else []
    )
    top = _section(TOP, raw, TOP_FIELDS + tuple(model_names) + tuple(unlisted))
    for name in unlisted:
        _model(name, top[name])

    data = _section("data", top["data"], ("sources", "limit"))
    sources = data["sources"]
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) for s in sources):
        raise _fail("data.sources", sources, "a non-empty list of folders or 'torchvision'")
    if top["device"] not in DEVICES:
        raise _fail("device", top["device"], f"one of {', '.join(DEVICES)}")
    seeds = _int_list("seeds", top["seeds"], 1, allow_empty=False)
    if len(set(seeds)) != len(seeds):
        raise _fail("seeds", seeds, "a list of positive integers without repeats")

    latent_map = _section(
        "latent_map", top["latent_map"], ("grid", "range", "blank_std", "min_tiles")
    )
    judge = _section("judge", top["judge"], ("channels", "epochs", "batch_size", "lr", "seed"))
    evaluate = _section("evaluate", top["evaluate"], ("iw_samples", "knn_k"))
    report = _section("report", top["report"], ("figure_dpi",))
    return Params(
        sources=sources,
        limit=_int("data.limit", data["limit"], 0),
        device=top["device"],
        seeds=seeds,
        models={name: _model(name, top[name]) for name in model_names},
        latent_map=MapParams(
            grid=_int("latent_map.grid", latent_map["grid"], 2),
            range=_positive_float("latent_map.range", latent_map["range"]),
            blank_std=_positive_float("latent_map.blank_std", latent_map["blank_std"]),
            min_tiles=_int("latent_map.min_tiles", latent_map["min_tiles"], 1),
        ),
        judge=JudgeParams(
            channels=_int("judge.channels", judge["channels"], 1),
            epochs=_int("judge.epochs", judge["epochs"], 1),
            batch_size=_int("judge.batch_size", judge["batch_size"], 1),
            lr=_positive_float("judge.lr", judge["lr"]),
            seed=_int("judge.seed", judge["seed"], 1),
        ),
        evaluate=EvaluateParams(
            iw_samples=_int("evaluate.iw_samples", evaluate["iw_samples"], 1),
            knn_k=_int("evaluate.knn_k", evaluate["knn_k"], 1),
        ),
        figure_dpi=_int("report.figure_dpi", report["figure_dpi"], 1),
    )


def load(path: Path = PARAMS_FILE) -> Params:
    """Read and validate params.yaml (safe_load: nothing in it is executed)."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} is missing; run stages from the repository root") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path} is not valid YAML ({str(err).splitlines()[0]})") from None
    return validate(raw)

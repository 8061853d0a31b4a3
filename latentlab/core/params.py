"""params.yaml: loading it safely and refusing any value a stage could not use, before any work.

Every size has an upper bound that keeps a run within a laptop's memory and time, and values that
depend on each other (k of a nearest-neighbour measure and the images there will be, a class's
minimum tiles and the tiles of the grid) are checked together. The model names are not params:
dvc.yaml declares them (`vars: models`), because DVC puts them into commands and output paths.
"""

from __future__ import annotations

import math
import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from latentlab.core.errors import UserError
from latentlab.core.fashion_mnist import IMAGE_SIDE, SPLIT_SIZES

PARAMS_FILE = Path("params.yaml")
PIPELINE_FILE = Path("dvc.yaml")
MODEL_KINDS = ("ae", "vae", "wae")
DEVICES = ("auto", "cpu", "cuda")
NO_CUDA = "params.yaml: device is 'cuda', but no CUDA GPU is visible; use auto or cpu"
MAP_LATENT_DIM = 2
SEED_MAX = 2**32 - 1  # numpy's legacy generators take seeds below 2**32; torch takes more

# Upper bounds, each with the reason a user reads in the message.
LAPTOP = "to keep a run within a laptop's memory and time"
MAX_WIDTH = 4096  # units of a hidden layer
MAX_LAYERS = 8
MAX_EPOCHS = 1000
MAX_LR = 1.0
MAX_SEEDS = 20
MAX_JUDGES = 10
MAX_CHANNELS = 128
MAX_GRID = 64  # 64 x 64 tiles: a 1792-pixel map
MAX_PROGRESS_GRID = 32
MAX_RANGE = 1000.0
MAX_IW_SAMPLES = 1000
MAX_KNN_K = 1000
MAX_SUBSETS = 50
MAX_PAIRS = 5000
MAX_STEPS = 256
MAX_SHOWN = 20
MAX_PRIOR_SAMPLES = 10000
MIN_DPI, MAX_DPI = 20, 300
MAX_BETA = 100.0  # a VAE's KL weight: 1 is the ELBO, 0 drops the prior term
MAX_MMD_WEIGHT = 1e5  # a WAE's MMD weight, against a reconstruction BCE of a few hundred
# Bounds on products of values, each the size of the largest array it makes (floats).
MAX_BATCH_FLOATS = 2**26  # a batch's widest layer: batch_size x max(784, hidden) (256 MB)
MAX_JUDGE_FLOATS = 2**26  # a judge's first convolution: batch_size x channels x 28 x 28
MAX_PATH_IMAGES = 50_000  # images decoded along the paths: pairs x (steps + 1)


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
    beta: float | None = None  # kind vae only: the KL term's weight
    mmd_weight: float | None = None  # kind wae only: the MMD term's weight


@dataclass(frozen=True)
class JudgeParams:
    """The classifiers that measure decoded images: one judge per seed, trained alike."""

    seeds: list[int]
    channels: int
    epochs: int
    batch_size: int
    lr: float


@dataclass(frozen=True)
class EvaluateParams:
    """How the latent spaces are measured on the test set."""

    iw_samples: int
    knn_k: int


@dataclass(frozen=True)
class SquareParams:
    """A square grid of codes centred on the origin: `grid` codes per side over [-range, range]."""

    grid: int
    range: float


@dataclass(frozen=True)
class MapParams:
    """The latent map, its second square over the model's own codes, and its tile measures."""

    grid: int
    range: float
    own_percentile: float
    blank_std: float
    min_tiles: int
    min_confidence: float
    prior_samples: int
    prior_seed: int


@dataclass(frozen=True)
class RealismParams:
    """Precision, density and coverage in the judges' features, against real test images."""

    k: int
    subsets: int
    seed: int


@dataclass(frozen=True)
class PathParams:
    """Straight paths between the codes of pairs of test images of different classes."""

    pairs: int
    steps: int
    seed: int
    shown: int


@dataclass(frozen=True)
class ReportParams:
    """Which models the report compares, and how its figures are drawn."""

    models: list[str]
    figure_dpi: int


@dataclass(frozen=True)
class Params:
    """The whole of params.yaml, validated."""

    sources: list[str]
    limit: int
    device: str
    seeds: list[int]
    models: dict[str, ModelParams]  # every model section, declared in dvc.yaml or set aside
    progress_map: SquareParams
    latent_map: MapParams
    judge: JudgeParams
    realism: RealismParams
    paths: PathParams
    evaluate: EvaluateParams
    report: ReportParams

    def model(self, name: str) -> ModelParams:
        """The section of model `name`, or a UserError naming the models there are."""
        if name not in self.models:
            raise UserError(
                f"unknown model {name!r}; params.yaml has sections for {sorted(self.models)}"
            )
        return self.models[name]

    def images(self, split: str) -> int:
        """How many images of `split` (train, test) the stages will read."""
        return images_read(split, self.limit)

    @property
    def compared(self) -> list[ModelParams]:
        """The sections of the models the report compares, in its order."""
        return [self.models[name] for name in self.report.models]


def images_read(split: str, limit: int) -> int:
    """How many images of `split` (train, test) the stages read with data.limit `limit`."""
    total = SPLIT_SIZES[split]
    return total if limit == 0 else min(limit, total)


# A value is quoted in a message only this far: a list of 100,000 seeds is not one sentence.
_SHOWN = reprlib.Repr()
_SHOWN.maxlist = _SHOWN.maxdict = 25
_SHOWN.maxstring = _SHOWN.maxother = 80


def _fail(key: str, value: Any, allowed: str) -> UserError:
    return UserError(f"params.yaml: {key} is {_SHOWN.repr(value)}, but it must be {allowed}")


def _int(key: str, value: Any, minimum: int, maximum: int | None = None, why: str = "") -> int:
    # bool is an int in Python, but `epochs: true` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        allowed = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise _fail(key, value, allowed + (f" and at most {maximum}" if maximum else ""))
    if maximum is not None and value > maximum:
        raise _fail(key, value, f"an integer from {minimum} to {maximum}{' ' + why if why else ''}")
    return value


def _number(key: str, value: Any, maximum: float, why: str = "", inclusive: bool = True) -> float:
    """A finite number > 0 and <= maximum (< maximum when not inclusive)."""
    # PyYAML reads 1e-3 (no dot) as a string, so accept a string that is a number.
    try:
        number = float(value) if not isinstance(value, (bool, list, dict)) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    within = number <= maximum if inclusive else number < maximum
    if not (number > 0 and math.isfinite(number) and within):
        bound = f"at most {maximum:g}" if inclusive else f"below {maximum:g}"
        raise _fail(key, value, f"a positive number, {bound}{' ' + why if why else ''}")
    return number


def _int_list(
    key: str, value: Any, minimum: int, maximum: int, longest: int, allow_empty: bool = False
) -> list[int]:
    if not isinstance(value, list) or (not value and not allow_empty):
        raise _fail(
            key, value, "a list of positive integers" + ("" if allow_empty else ", not empty")
        )
    if len(value) > longest:
        raise _fail(key, value, f"a list of at most {longest} integers {LAPTOP}")
    return [_int(f"{key}[{i}]", v, minimum, maximum, LAPTOP) for i, v in enumerate(value)]


def _seeds(key: str, value: Any, longest: int) -> list[int]:
    if not isinstance(value, list) or not value:
        raise _fail(key, value, "a list of positive integers, not empty")
    if len(value) > longest:
        raise _fail(key, value, f"a list of at most {longest} seeds {LAPTOP}")
    why = "(the seeds numpy and torch accept)"
    seeds = [_int(f"{key}[{i}]", v, 1, SEED_MAX, why) for i, v in enumerate(value)]
    if len(set(seeds)) != len(seeds):
        raise _fail(key, value, "a list of positive integers without repeats")
    return seeds


TOP = "params.yaml"  # the key of the file's top level, whose keys are named bare


def _section(
    key: str, value: Any, fields: tuple[str, ...], partial: bool = False
) -> dict[str, Any]:
    """A mapping with exactly `fields` as keys (with `partial`, at least them)."""
    if not isinstance(value, dict):
        raise _fail(key, value, f"a mapping with the keys {', '.join(fields)}")
    prefix = "" if key == TOP else f"{key}."
    unknown = [] if partial else sorted(set(value) - set(fields), key=str)
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
# The weight of each kind's prior term, a key of its sections only.
PRIOR_WEIGHT_FIELD = {"vae": ("beta", MAX_BETA), "wae": ("mmd_weight", MAX_MMD_WEIGHT)}
TOP_FIELDS = (
    "data",
    "device",
    "seeds",
    "progress_map",
    "latent_map",
    "judge",
    "realism",
    "paths",
    "evaluate",
    "report",
)


def _weight(key: str, value: Any, maximum: float) -> float:
    """A finite number from 0 to maximum."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= maximum:
        raise _fail(key, value, f"a number from 0 to {maximum:g}")
    return float(value)


def _model(name: str, raw: Any) -> ModelParams:
    # The kind first: which keys a section takes depends on it.
    kind = _section(name, raw, MODEL_FIELDS, partial=True)["kind"]
    if kind not in MODEL_KINDS:
        raise _fail(f"{name}.kind", kind, f"one of {', '.join(MODEL_KINDS)}")
    weight = PRIOR_WEIGHT_FIELD.get(kind)
    s = _section(name, raw, MODEL_FIELDS + ((weight[0],) if weight else ()))
    weights = {weight[0]: _weight(f"{name}.{weight[0]}", s[weight[0]], weight[1])} if weight else {}
    latent_dim = _int(f"{name}.latent_dim", s["latent_dim"], 1)
    if latent_dim != MAP_LATENT_DIM:
        raise UserError(
            f"params.yaml: {name}.latent_dim is {latent_dim}, but it must be {MAP_LATENT_DIM} "
            f"because the pipeline draws a latent map of every model, and a map needs a 2-D code"
        )
    hidden = _int_list(f"{name}.hidden", s["hidden"], 1, MAX_WIDTH, MAX_LAYERS, True)
    batch_size = _int(f"{name}.batch_size", s["batch_size"], 1, SPLIT_SIZES["train"])
    widest = max([IMAGE_SIDE * IMAGE_SIDE, *hidden])
    if batch_size * widest > MAX_BATCH_FLOATS:
        raise _fail(
            f"{name}.batch_size",
            batch_size,
            f"at most {MAX_BATCH_FLOATS // widest} with a widest layer of {widest} units, so "
            f"that one layer's batch stays within {MAX_BATCH_FLOATS} floats {LAPTOP}",
        )
    return ModelParams(
        name=name,
        kind=s["kind"],
        latent_dim=latent_dim,
        hidden=hidden,
        epochs=_int(f"{name}.epochs", s["epochs"], 1, MAX_EPOCHS, LAPTOP),
        batch_size=batch_size,
        lr=_number(f"{name}.lr", s["lr"], MAX_LR),
        **weights,
    )


def declared_models(path: Path = PIPELINE_FILE) -> list[str]:
    """The model names dvc.yaml declares under `vars: models` (its stages exist for these)."""
    try:
        pipeline = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} is missing; run stages from the repository root") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path} is not valid YAML ({str(err).splitlines()[0]})") from None
    for entry in pipeline.get("vars", []) if isinstance(pipeline, dict) else []:
        if isinstance(entry, dict) and isinstance(entry.get("models"), list):
            names = entry["models"]
            bad = [
                n
                for n in names
                if not isinstance(n, str) or not n.isidentifier() or n in (*TOP_FIELDS, "judge")
            ]
            if bad or not names:
                raise UserError(
                    f"{path}: vars models must be a non-empty list of names made of letters, "
                    f"digits and _ (they become paths) and not a params section such as data "
                    f"or judge, not {bad or names}"
                )
            return names
    raise UserError(f"{path} declares no `models` list under `vars`; the pipeline needs one")


def _is_model_section(key: Any, value: Any) -> bool:
    return (
        isinstance(key, str)
        and key not in TOP_FIELDS
        and isinstance(value, dict)
        and ("kind" in value)
    )


def _report_models(value: Any, declared: list[str]) -> list[str]:
    allowed = f"a non-empty list, without repeats, of the models dvc.yaml declares ({declared})"
    if not isinstance(value, list) or not value or len(set(map(str, value))) != len(value):
        raise _fail("report.models", value, allowed)
    for i, name in enumerate(value):
        if name not in declared:
            raise _fail(
                f"report.models[{i}]",
                name,
                f"one of the models dvc.yaml declares, {', '.join(declared)}",
            )
    return value


def validate(raw: Any, declared: list[str]) -> Params:
    """Check every value of a loaded params.yaml and return them typed; UserError on a bad one.

    `declared` is the list of models dvc.yaml declares: each needs a section here.
    """
    if isinstance(raw, dict):
        for name in declared:
            if name not in raw:
                raise UserError(
                    f"params.yaml: there is no {name} section, but dvc.yaml declares the model "
                    f"{name}; add a section with the keys {', '.join(MODEL_FIELDS)}"
                )
    sections = (
        [k for k, v in raw.items() if _is_model_section(k, v)] if isinstance(raw, dict) else []
    )
    top = _section(TOP, raw, TOP_FIELDS + tuple(dict.fromkeys([*declared, *sections])))
    models = {name: _model(name, top[name]) for name in dict.fromkeys([*declared, *sections])}

    data = _section("data", top["data"], ("sources", "limit"))
    sources = data["sources"]
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) for s in sources):
        raise _fail("data.sources", sources, "a non-empty list of folders or 'torchvision'")
    limit = _int("data.limit", data["limit"], 0, SPLIT_SIZES["train"], "(0 means all images)")
    if top["device"] not in DEVICES:
        raise _fail("device", top["device"], f"one of {', '.join(DEVICES)}")
    seeds = _seeds("seeds", top["seeds"], MAX_SEEDS)

    pm = _section("progress_map", top["progress_map"], ("grid", "range"))
    progress_map = SquareParams(
        grid=_int("progress_map.grid", pm["grid"], 2, MAX_PROGRESS_GRID, LAPTOP),
        range=_number("progress_map.range", pm["range"], MAX_RANGE),
    )
    lm = _section(
        "latent_map",
        top["latent_map"],
        (
            "grid",
            "range",
            "own_percentile",
            "blank_std",
            "min_tiles",
            "min_confidence",
            "prior_samples",
            "prior_seed",
        ),
    )
    grid = _int("latent_map.grid", lm["grid"], 2, MAX_GRID, LAPTOP)
    tiles = grid * grid
    own = lm["own_percentile"]
    if isinstance(own, bool) or not isinstance(own, (int, float)) or not 0 <= own < 50:
        raise _fail(
            "latent_map.own_percentile",
            own,
            "a number from 0 to below 50 (the own "
            "square spans the codes' percentiles p and 100 - p)",
        )
    latent_map = MapParams(
        grid=grid,
        range=_number("latent_map.range", lm["range"], MAX_RANGE),
        own_percentile=float(own),
        blank_std=_number("latent_map.blank_std", lm["blank_std"], 0.5),
        min_tiles=_int(
            "latent_map.min_tiles",
            lm["min_tiles"],
            1,
            tiles,
            f"(the tiles of a {grid} x {grid} grid)",
        ),
        min_confidence=_number("latent_map.min_confidence", lm["min_confidence"], 1.0),
        prior_samples=_int("latent_map.prior_samples", lm["prior_samples"], 1, MAX_PRIOR_SAMPLES),
        prior_seed=_int("latent_map.prior_seed", lm["prior_seed"], 1, SEED_MAX),
    )

    j = _section("judge", top["judge"], ("seeds", "channels", "epochs", "batch_size", "lr"))
    judge = JudgeParams(
        seeds=_seeds("judge.seeds", j["seeds"], MAX_JUDGES),
        channels=_int("judge.channels", j["channels"], 1, MAX_CHANNELS, LAPTOP),
        epochs=_int("judge.epochs", j["epochs"], 1, MAX_EPOCHS, LAPTOP),
        batch_size=_int("judge.batch_size", j["batch_size"], 1, SPLIT_SIZES["train"]),
        lr=_number("judge.lr", j["lr"], MAX_LR),
    )
    per_image = judge.channels * IMAGE_SIDE * IMAGE_SIDE  # the first convolution's output
    if judge.batch_size * per_image > MAX_JUDGE_FLOATS:
        raise _fail(
            "judge.batch_size",
            judge.batch_size,
            f"at most {MAX_JUDGE_FLOATS // per_image} with {judge.channels} channels, so that "
            f"the first convolution's output stays within {MAX_JUDGE_FLOATS} floats {LAPTOP}",
        )

    n_train, n_test = images_read("train", limit), images_read("test", limit)
    if n_test < 2:
        raise _fail(
            "data.limit",
            limit,
            "0 (all images) or at least 2, so that every real "
            "image has a neighbour among the test images",
        )
    for m in models.values():
        if m.kind == "wae" and n_train % m.batch_size == 1:
            # The MMD compares the codes of a batch with each other: one code has no pair.
            raise _fail(
                f"{m.name}.batch_size",
                m.batch_size,
                f"a size that leaves no last batch of a single image of the {n_train} training "
                f"images (a WAE's MMD compares a batch's codes in pairs)",
            )
    pa = _section("paths", top["paths"], ("pairs", "steps", "seed", "shown"))
    pairs = _int("paths.pairs", pa["pairs"], 1, MAX_PAIRS, LAPTOP)
    steps = _int("paths.steps", pa["steps"], 2, MAX_STEPS, LAPTOP)
    if pairs * (steps + 1) > MAX_PATH_IMAGES:
        raise _fail(
            "paths.pairs",
            pairs,
            f"at most {MAX_PATH_IMAGES // (steps + 1)} with paths.steps {steps}, so that the "
            f"paths decode at most {MAX_PATH_IMAGES} images {LAPTOP}",
        )
    paths = PathParams(
        pairs=pairs,
        steps=steps,
        seed=_int("paths.seed", pa["seed"], 1, SEED_MAX),
        shown=_int(
            "paths.shown",
            pa["shown"],
            1,
            min(pairs, MAX_SHOWN),
            f"(no more than paths.pairs, {pairs}, and a figure's rows)",
        ),
    )

    if pairs * (steps - 1) < 2:
        raise _fail(
            "paths.pairs",
            pairs,
            f"at least 2 when paths.steps is {steps}, so that the "
            f"paths have two middle images to compare",
        )
    r = _section("realism", top["realism"], ("k", "subsets", "seed"))
    # A k-NN ball needs k other real images in a subset, which is as large as the generated set
    # it is compared with (the map's tiles, the paths' middle images) or the test set if smaller.
    smallest = min(tiles, pairs * (steps - 1), n_test)
    realism = RealismParams(
        k=_int(
            "realism.k",
            r["k"],
            1,
            smallest - 1,
            f"(each real image needs k neighbours among the {smallest} real images of a "
            f"subset: the map's tiles, the paths' middle images or the test images, whichever "
            f"is fewest)",
        ),
        subsets=_int("realism.subsets", r["subsets"], 1, MAX_SUBSETS, LAPTOP),
        seed=_int("realism.seed", r["seed"], 1, SEED_MAX),
    )

    e = _section("evaluate", top["evaluate"], ("iw_samples", "knn_k"))
    knn_max = min(MAX_KNN_K, n_train)
    evaluate = EvaluateParams(
        iw_samples=_int("evaluate.iw_samples", e["iw_samples"], 1, MAX_IW_SAMPLES, LAPTOP),
        knn_k=_int(
            "evaluate.knn_k",
            e["knn_k"],
            1,
            knn_max,
            f"(the training codes there are: {n_train} with data.limit {limit})"
            if knn_max == n_train
            else LAPTOP,
        ),
    )
    rp = _section("report", top["report"], ("models", "figure_dpi"))
    report = ReportParams(
        models=_report_models(rp["models"], declared),
        figure_dpi=_int("report.figure_dpi", rp["figure_dpi"], MIN_DPI, MAX_DPI),
    )
    return Params(
        sources=sources,
        limit=limit,
        device=top["device"],
        seeds=seeds,
        models=models,
        progress_map=progress_map,
        latent_map=latent_map,
        judge=judge,
        realism=realism,
        paths=paths,
        evaluate=evaluate,
        report=report,
    )


def load(path: Path = PARAMS_FILE, pipeline: Path = PIPELINE_FILE) -> Params:
    """Read and validate params.yaml against the models dvc.yaml declares (safe_load only)."""
    try:
        with path.open() as stream:  # a stream, so that PyYAML's messages name the file
            raw = yaml.load(stream, Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise UserError(f"{path} is missing; run stages from the repository root") from None
    except yaml.YAMLError as err:
        problem = " ".join(str(err).split())  # PyYAML's message spans several lines
        raise UserError(f"{path} is not valid YAML: {problem}") from None
    if raw is None:
        raise UserError(f"{path} is empty; it must hold the sections {', '.join(TOP_FIELDS)}")
    return validate(raw, declared_models(pipeline))


_MERGE_TAG = "tag:yaml.org,2002:merge"  # `<<: *anchor`, whose keys a mapping may override


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping, as DVC does: PyYAML alone keeps
    the last value, so a stage run directly would use another value than DVC sees."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        """The mapping, refused when one of its own plain keys is given twice (the keys a merge
        `<<: *anchor` brings in may be overridden, as YAML allows)."""
        seen = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key_node.value!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

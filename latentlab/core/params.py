"""params.yaml: read as DVC reads it, and refused in one sentence, before any work, wherever a value
is one a stage could not use.

Each section is declared once below as a frozen dataclass: its annotations are its types, its
`param(...)` its bounds (latentlab/core/schema.py reads a section by them), every size bounded to a
laptop's memory and time. By hand: the checks of values against each other and against dvc.yaml,
and each stage's memory (latentlab/core/memory.py). Model names are not params: dvc.yaml declares
them (`vars: models`), as DVC puts them into commands and output paths.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from latentlab.core import memory
from latentlab.core.errors import UserError
from latentlab.core.fashion_mnist import IMAGE_SIDE, SPLIT_SIZES
from latentlab.core.schema import (
    LAPTOP,
    PARAMS,
    Bounds,
    build,
    check,
    check_int,
    fail,
    key_name,
    keys,
    param,
    section,
    shown,
)

PARAMS_FILE = Path("params.yaml")
PIPELINE_FILE = Path("dvc.yaml")
FACTORIAL_ENTRY = "mechanism"  # reports/verdicts.json's key beside the VAEs' names: no model's
NO_CUDA = "params.yaml: device is 'cuda', but no CUDA GPU is visible; use auto or cpu"
SEED_MAX = 2**32 - 1  # numpy's legacy generators take seeds below 2**32; torch takes more
SEED_RANGE = "(the seeds numpy and torch accept)"

# Upper bounds, each with the reason a user reads in the message.
MAX_WIDTH = 4096  # units of a hidden layer
MAX_LAYERS = 8
MAX_EPOCHS = 1000
MAX_LR = 1.0
MAX_BETA = 100.0
MAX_MMD_WEIGHT = 10000.0
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
MIN_MEMORY_GIB, MAX_MEMORY_GIB = 1, 64
# Bounds on products of values, each the size of the largest array it makes (floats).
MAX_BATCH_FLOATS = 2**26  # a batch's widest layer: batch_size x max(784, hidden) (256 MB)
MAX_JUDGE_FLOATS = 2**26  # a judge's first convolution: batch_size x channels x 28 x 28
MAX_PATH_IMAGES = 50_000  # images decoded along the paths: pairs x (steps + 1)


@dataclass(frozen=True)
class DataParams:
    """Where the four files come from, and how many images of each split the stages read."""

    sources: list[str] = param(
        shortest=1,
        why="(a folder or 'torchvision')",
        allowed="a non-empty list of folders or 'torchvision'",
    )
    limit: int = param(ge=0, le=SPLIT_SIZES["train"], why="(0 means all images)")


@dataclass(frozen=True)
class ModelParams:
    """One model's section: its architecture and how it is trained; each kind is a subclass."""

    name: str  # the section's key: a model that dvc.yaml declares
    kind: str = param()
    latent_dim: Literal[2] = param(
        why="because the pipeline draws a latent map of every model, and a map needs a 2-D code"
    )
    hidden: list[int] = param(ge=1, le=MAX_WIDTH, why=LAPTOP, longest=MAX_LAYERS)
    epochs: int = param(ge=1, le=MAX_EPOCHS, why=LAPTOP)
    batch_size: int = param(ge=1, le=SPLIT_SIZES["train"])
    lr: float = param(gt=0, le=MAX_LR)


@dataclass(frozen=True)
class AEParams(ModelParams):
    """An autoencoder (the lab's part 1): a point code per image, trained on reconstruction."""

    kind: Literal["ae"] = param()


@dataclass(frozen=True)
class VAEParams(ModelParams):
    """A variational autoencoder (the lab's part 3), its KL term weighed by beta."""

    kind: Literal["vae"] = param()
    beta: float = param(ge=0, le=MAX_BETA, why="(1 is the ELBO)")


@dataclass(frozen=True)
class WAEParams(ModelParams):
    """A Wasserstein autoencoder (WAE-MMD): point codes pulled towards N(0, I) by an MMD penalty
    of weight mmd_weight."""

    kind: Literal["wae"] = param()
    mmd_weight: float = param(ge=0, le=MAX_MMD_WEIGHT)


MODEL_KINDS: dict[str, type[ModelParams]] = {"ae": AEParams, "vae": VAEParams, "wae": WAEParams}


@dataclass(frozen=True)
class SquareParams:
    """A square grid of codes centred on the origin: `grid` codes per side over [-range, range]."""

    grid: int = param(ge=2, le=MAX_PROGRESS_GRID, why=LAPTOP)
    range: float = param(gt=0, le=MAX_RANGE)


@dataclass(frozen=True)
class MapParams:
    """The latent map, its second square over the model's own codes, and its tile measures."""

    grid: int = param(ge=2, le=MAX_GRID, why=LAPTOP)
    range: float = param(gt=0, le=MAX_RANGE)
    own_percentile: float = param(
        ge=0, lt=50, why="(the own square spans the codes' percentiles p and 100 - p)"
    )
    blank_std: float = param(gt=0, le=0.5)
    min_tiles: int = param(ge=1)  # at most the grid's tiles: checked with latent_map.grid
    min_confidence: float = param(gt=0, le=1)
    prior_samples: int = param(ge=1, le=MAX_PRIOR_SAMPLES, why=LAPTOP)
    prior_seed: int = param(ge=1, le=SEED_MAX, why=SEED_RANGE)


@dataclass(frozen=True)
class JudgeParams:
    """The classifiers that measure decoded images: one judge per seed, trained alike."""

    seeds: list[int] = param(
        ge=1, le=SEED_MAX, why=SEED_RANGE, shortest=1, longest=MAX_JUDGES, unique=True, noun="seeds"
    )
    channels: int = param(ge=1, le=MAX_CHANNELS, why=LAPTOP)
    epochs: int = param(ge=1, le=MAX_EPOCHS, why=LAPTOP)
    batch_size: int = param(ge=1, le=SPLIT_SIZES["train"])
    lr: float = param(gt=0, le=MAX_LR)


@dataclass(frozen=True)
class RealismParams:
    """Precision, density and coverage in the judges' features, against real test images."""

    k: int = param(ge=1)  # below the smallest real subset: checked with the sets' sizes
    subsets: int = param(ge=1, le=MAX_SUBSETS, why=LAPTOP)
    seed: int = param(ge=1, le=SEED_MAX, why=SEED_RANGE)


@dataclass(frozen=True)
class InterpolateParams:
    """Straight paths between the codes of pairs of test images of different classes."""

    pairs: int = param(ge=1, le=MAX_PAIRS, why=LAPTOP)
    steps: int = param(ge=2, le=MAX_STEPS, why=LAPTOP)
    seed: int = param(ge=1, le=SEED_MAX, why=SEED_RANGE)
    shown: int = param(
        ge=1, le=MAX_SHOWN, why="(a figure's rows, and no more than interpolate.pairs)"
    )


@dataclass(frozen=True)
class EvaluateParams:
    """How the latent spaces are measured on the test set."""

    iw_samples: int = param(ge=1, le=MAX_IW_SAMPLES, why=LAPTOP)
    knn_k: int = param(ge=1, le=MAX_KNN_K, why=LAPTOP)


@dataclass(frozen=True)
class ReportParams:
    """Which models the report compares, and how its figures are drawn."""

    models: list[str] = param(
        shortest=1,
        unique=True,
        why="(a model that dvc.yaml declares)",
        allowed="a non-empty list, without repeats, of the models dvc.yaml declares",
    )
    figure_dpi: int = param(ge=MIN_DPI, le=MAX_DPI)


@dataclass(frozen=True)
class Params:
    """The whole of params.yaml, validated: a section per declared model besides these keys."""

    models: dict[str, ModelParams]  # by name, in dvc.yaml's order
    data: DataParams = param()
    device: Literal["auto", "cpu", "cuda"] = param()
    # auto: bf16 autocast where the hardware has native bf16 matmuls, fp32 elsewhere.
    precision: Literal["auto", "fp32", "bf16"] = param()
    memory_gib: float = param(ge=MIN_MEMORY_GIB, le=MAX_MEMORY_GIB, why="(GiB)")
    seeds: list[int] = param(
        ge=1, le=SEED_MAX, why=SEED_RANGE, shortest=1, longest=MAX_SEEDS, unique=True, noun="seeds"
    )
    progress_map: SquareParams = param()
    latent_map: MapParams = param()
    judge: JudgeParams = param()
    realism: RealismParams = param()
    interpolate: InterpolateParams = param()
    evaluate: EvaluateParams = param()
    report: ReportParams = param()

    @property
    def sources(self) -> list[str]:
        """data.sources: where the download stage looks for the four files, in order."""
        return self.data.sources

    @property
    def limit(self) -> int:
        """data.limit: the stages read the first `limit` images of each split (0: all)."""
        return self.data.limit

    def model(self, name: str) -> ModelParams:
        """The section of model `name`, or a UserError naming the models there are."""
        if name not in self.models:
            declared = ", ".join(self.models)
            raise UserError(f"unknown model {shown(name)}; dvc.yaml declares the models {declared}")
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


def _model(name: str, raw: Any) -> ModelParams:
    """A model's section, read by the class of its kind."""
    common = keys(AEParams)
    others = [
        f"a {kind} also takes {', '.join(k for k in keys(cls) if k not in common)}"
        for kind, cls in MODEL_KINDS.items()
        if keys(cls) != common
    ]
    listed = ", ".join(common) + (f" ({'; '.join(others)})" if others else "")
    if not isinstance(raw, dict):
        raise fail(name, raw, f"a mapping with the keys {listed}")
    if "kind" not in raw:
        raise UserError(f"{PARAMS}: {name}.kind is missing; {name} needs {listed}")
    kind = check(f"{name}.kind", raw["kind"], Literal[tuple(MODEL_KINDS)], Bounds())
    return build(MODEL_KINDS[kind], raw, name, name=name)


def _top_level(raw: Any, declared: list[str]) -> dict[str, Any]:
    """The file's mapping, refused unless it holds exactly the sections and declared models."""
    top = keys(Params)
    listed = (
        f"{', '.join(top)} and a section for each model dvc.yaml declares ({', '.join(declared)})"
    )
    if not isinstance(raw, dict):
        raise fail(PARAMS, raw, f"a mapping with the keys {listed}")
    for key, value in raw.items():
        if key not in top and key not in declared and isinstance(value, dict) and "kind" in value:
            raise UserError(
                f"{PARAMS}: {key_name(PARAMS, key)} is a model's section, but dvc.yaml declares "
                f"only the models {', '.join(declared)} (a model needs its name in dvc.yaml's "
                f"vars: models, and its stages come from there)"
            )
    for name in declared:
        if name not in raw:
            raise UserError(
                f"{PARAMS}: there is no {name} section, but dvc.yaml declares the model {name}; "
                f"add a section with the keys {', '.join(keys(AEParams))}"
            )
    return section(PARAMS, raw, [*top, *declared], listed)


def validate(raw: Any, declared: list[str]) -> Params:
    """Check every value of a loaded params.yaml and return them typed; UserError on a bad one.

    `declared` is the list of models dvc.yaml declares: each needs a section here, and no other
    section may hold a model.
    """
    top = _top_level(raw, declared)
    models = {name: _model(name, top[name]) for name in declared}
    p = build(Params, {k: top[k] for k in keys(Params)}, PARAMS, models=models)
    _check_together(p, declared)
    memory.check(p)
    return p


def _check_together(p: Params, declared: list[str]) -> None:
    """The rules that tie values to each other and to dvc.yaml, in the order a user fixes them."""
    for i, name in enumerate(p.report.models):
        if name not in declared:
            raise fail(
                f"report.models[{i}]",
                name,
                f"one of the models dvc.yaml declares, {', '.join(declared)}",
            )
    _check_batches(p)
    n_train, n_test = p.images("train"), p.images("test")
    if n_test < 2:
        raise fail(
            "data.limit",
            p.limit,
            "0 (all images) or at least 2, so that every real image has a neighbour among the "
            "test images",
        )
    for m in p.models.values():
        if m.kind == "wae" and n_train % m.batch_size == 1:
            # The MMD compares the codes of a batch with each other: one code has no pair.
            raise fail(
                f"{m.name}.batch_size",
                m.batch_size,
                f"a size that leaves no last batch of a single image of the {n_train} training "
                f"images (a WAE's MMD compares a batch's codes in pairs)",
            )
    grid = p.latent_map.grid
    check_int(
        "latent_map.min_tiles",
        p.latent_map.min_tiles,
        Bounds(ge=1, le=grid * grid, why=f"(the tiles of a {grid} x {grid} grid)"),
    )
    _check_paths(p.interpolate)
    # A k-NN ball needs k other real images in a subset, which is as large as the generated set
    # it is compared with (the map's tiles, the paths' middle images) or the test set if smaller.
    smallest = min(grid * grid, p.interpolate.pairs * (p.interpolate.steps - 1), n_test)
    check_int(
        "realism.k",
        p.realism.k,
        Bounds(
            ge=1,
            le=smallest - 1,
            why=f"(each real image needs k neighbours among the {smallest} real images of a "
            f"subset: the map's tiles, the paths' middle images or the test images, whichever "
            f"is fewest)",
        ),
    )
    if p.evaluate.knn_k > n_train:
        raise fail(
            "evaluate.knn_k",
            p.evaluate.knn_k,
            f"an integer from 1 to {n_train} (the training codes there are: {n_train} with "
            f"data.limit {p.limit})",
        )


def _check_batches(p: Params) -> None:
    """A batch's widest layer, of every model and of the judges, within a bound of its own."""
    for m in p.models.values():
        widest = max([IMAGE_SIDE * IMAGE_SIDE, *m.hidden])
        if m.batch_size * widest > MAX_BATCH_FLOATS:
            raise fail(
                f"{m.name}.batch_size",
                m.batch_size,
                f"at most {MAX_BATCH_FLOATS // widest} with a widest layer of {widest} units, "
                f"so that one layer's batch stays within {MAX_BATCH_FLOATS} floats {LAPTOP}",
            )
    j = p.judge
    per_image = j.channels * IMAGE_SIDE * IMAGE_SIDE  # the first convolution's output
    if j.batch_size * per_image > MAX_JUDGE_FLOATS:
        raise fail(
            "judge.batch_size",
            j.batch_size,
            f"at most {MAX_JUDGE_FLOATS // per_image} with {j.channels} channels, so that the "
            f"first convolution's output stays within {MAX_JUDGE_FLOATS} floats {LAPTOP}",
        )


def _check_paths(pp: InterpolateParams) -> None:
    """The paths' images: few enough to decode, enough in the middle to measure."""
    if pp.pairs * (pp.steps + 1) > MAX_PATH_IMAGES:
        raise fail(
            "interpolate.pairs",
            pp.pairs,
            f"at most {MAX_PATH_IMAGES // (pp.steps + 1)} with interpolate.steps {pp.steps}, so "
            f"that the paths decode at most {MAX_PATH_IMAGES} images {LAPTOP}",
        )
    if pp.shown > pp.pairs:
        raise fail(
            "interpolate.shown",
            pp.shown,
            f"an integer from 1 to {pp.pairs} (no more than interpolate.pairs, {pp.pairs})",
        )
    if pp.pairs * (pp.steps - 1) < 2:
        raise fail(
            "interpolate.pairs",
            pp.pairs,
            f"at least 2 when interpolate.steps is {pp.steps}, so that the paths have two middle "
            f"images to compare",
        )


def read_yaml(path: Path) -> Any:
    """A YAML file read as DVC reads params.yaml and dvc.yaml (see parse_yaml); UserError in one
    line for a file that is missing or cannot be read so."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path} is missing; run stages from the repository root") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path} is not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise UserError(f"{path} cannot be read ({err.strerror})") from None
    return parse_yaml(text, path)


def parse_yaml(text: str, source: Path | str) -> Any:
    """YAML text parsed exactly as DVC parses it (ruamel.yaml's safe loader: YAML 1.2, a key given
    twice refused; dvc/utils/serialize/_yaml.py), or a UserError in one line naming `source`."""
    try:
        return YAML(typ="safe").load(text)
    except YAMLError as err:
        raise UserError(f"{source} is not valid YAML: {_problem(err)}") from None
    except RecursionError:
        raise UserError(
            f"{source} nests its values deeper than Python can read; params need a few levels"
        ) from None
    except ValueError as err:  # an integer of more digits than Python converts
        raise UserError(f"{source} is not valid YAML: {str(err).split(';')[0]}") from None


def dump_yaml(data: Any) -> str:
    """`data` as YAML text that parse_yaml, and so DVC, reads back as `data` (keys in order)."""
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def _problem(err: YAMLError) -> str:
    """ruamel's multi-line message as one line: what is wrong, and where."""
    if not isinstance(err, MarkedYAMLError):
        words = " ".join(str(err).split())
    else:
        parts = [err.problem] if isinstance(err, DuplicateKeyError) else [err.context, err.problem]
        words = ": ".join(" ".join(str(p).split()) for p in parts if p)
        if err.problem_mark is not None:
            words += f", line {err.problem_mark.line + 1}"
    words = "".join(c if c.isascii() and c.isprintable() else ascii(c)[1:-1] for c in words)
    return words if len(words) <= 300 else words[:297] + "..."


def declared_models(path: Path = PIPELINE_FILE) -> list[str]:
    """The model names dvc.yaml declares under `vars: models` (its stages exist for these)."""
    pipeline = read_yaml(path)
    for entry in pipeline.get("vars", []) if isinstance(pipeline, dict) else []:
        if isinstance(entry, dict) and isinstance(entry.get("models"), list):
            names = entry["models"]
            bad = [
                n
                for n in names
                if not isinstance(n, str)
                or not (n.isidentifier() and n.isascii())
                or n in [*keys(Params), FACTORIAL_ENTRY]
            ]
            if bad or not names:
                raise UserError(
                    f"{path}: vars models must be a non-empty list of names made of letters, "
                    f"digits and _ (they become paths), neither a params section such as data "
                    f"or judge nor {FACTORIAL_ENTRY!r}, not {shown(bad or names)}"
                )
            return names
    raise UserError(f"{path} declares no `models` list under `vars`; the pipeline needs one")


def load(path: Path = PARAMS_FILE, pipeline: Path = PIPELINE_FILE) -> Params:
    """Read params.yaml as DVC does and validate it against the models dvc.yaml declares."""
    raw = read_yaml(path)
    if raw is None:
        raise UserError(f"{path} is empty; it must hold the sections {', '.join(keys(Params))}")
    return validate(raw, declared_models(pipeline))

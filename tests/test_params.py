"""Issue "bad parameters": every rule of latentlab/core/params.py, its message, and its boundaries.

The model names are declared by dvc.yaml (`vars: models`), not by params.yaml: `validate` takes
the declared list, `load` reads it from the pipeline file.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from latentlab.core import params
from latentlab.core.errors import UserError
from latentlab.core.params import (
    MAX_CHANNELS,
    MAX_DPI,
    MAX_EPOCHS,
    MAX_GRID,
    MAX_IW_SAMPLES,
    MAX_JUDGES,
    MAX_KNN_K,
    MAX_LAYERS,
    MAX_PAIRS,
    MAX_PATH_IMAGES,
    MAX_PRIOR_SAMPLES,
    MAX_PROGRESS_GRID,
    MAX_RANGE,
    MAX_SEEDS,
    MAX_SHOWN,
    MAX_STEPS,
    MAX_SUBSETS,
    MAX_WIDTH,
    MIN_DPI,
    SEED_MAX,
)

REPO = Path(__file__).resolve().parents[1]
DECLARED = params.declared_models(REPO / "dvc.yaml")
MODELS = ", ".join(DECLARED)  # as messages list the declared models


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


def refused(raw: Any, declared: list[str] = DECLARED) -> str:
    """The message of the UserError that validate raises (the test fails if it accepts)."""
    with pytest.raises(UserError) as info:
        params.validate(raw, declared)
    message = str(info.value)
    assert_one_sentence(message)
    return message


LAPTOP = "to keep a run within a laptop's memory and time"

# (dotted key, bad value, words the message must contain). The words name the key, the value
# where it reads plainly, and what is allowed; "vae" stands for any model section (ae and
# ae_wide get the same rules, see below).
BAD = [
    # a model's section
    ("vae.kind", "gan", ["vae.kind", "'gan'", "one of ae, vae, wae"]),
    ("vae.kind", 1, ["vae.kind", "one of ae, vae, wae"]),
    ("vae.kind", "VAE", ["vae.kind", "one of ae, vae, wae"]),
    ("vae.latent_dim", 3, ["vae.latent_dim", "must be 2", "map needs a 2-D code"]),
    ("vae.latent_dim", 64, ["vae.latent_dim", "must be 2", "2-D code"]),
    ("vae.latent_dim", 0, ["vae.latent_dim", "is 0", "must be 2"]),
    ("vae.latent_dim", "2", ["vae.latent_dim", "is '2'", "must be 2"]),
    ("vae.latent_dim", 2.0, ["vae.latent_dim", "is 2.0", "must be 2"]),
    ("vae.latent_dim", True, ["vae.latent_dim", "is True", "must be 2"]),
    ("vae.hidden", 512, ["vae.hidden", "list of positive integers"]),
    ("vae.hidden", "512", ["vae.hidden", "list of positive integers"]),
    ("vae.hidden", None, ["vae.hidden", "list of positive integers"]),
    ("vae.hidden", [512, 0], ["vae.hidden[1]", "positive integer", f"at most {MAX_WIDTH}"]),
    ("vae.hidden", [-512], ["vae.hidden[0]", "positive integer"]),
    ("vae.hidden", [512.0], ["vae.hidden[0]", "positive integer"]),
    ("vae.hidden", [True], ["vae.hidden[0]", "positive integer"]),
    ("vae.hidden", ["512"], ["vae.hidden[0]", "positive integer"]),
    ("vae.hidden", [MAX_WIDTH + 1], ["vae.hidden[0]", f"from 1 to {MAX_WIDTH}", LAPTOP]),
    ("vae.hidden", [1000000000], ["vae.hidden[0]", "1000000000", f"from 1 to {MAX_WIDTH}"]),
    ("vae.hidden", [8] * (MAX_LAYERS + 1), ["vae.hidden", f"at most {MAX_LAYERS} integers"]),
    ("vae.epochs", 0, ["vae.epochs", "positive integer"]),
    ("vae.epochs", -1, ["vae.epochs", "positive integer"]),
    ("vae.epochs", 1.5, ["vae.epochs", "positive integer"]),
    ("vae.epochs", "10", ["vae.epochs", "positive integer"]),
    ("vae.epochs", True, ["vae.epochs", "True", "positive integer"]),
    ("vae.epochs", MAX_EPOCHS + 1, ["vae.epochs", f"from 1 to {MAX_EPOCHS}", LAPTOP]),
    ("vae.batch_size", 0, ["vae.batch_size", "positive integer"]),
    ("vae.batch_size", 256.0, ["vae.batch_size", "positive integer"]),
    ("vae.batch_size", False, ["vae.batch_size", "positive integer"]),
    ("vae.batch_size", 60001, ["vae.batch_size", "from 1 to 60000"]),
    ("vae.lr", 0, ["vae.lr", "positive number"]),
    ("vae.lr", -0.001, ["vae.lr", "positive number"]),
    ("vae.lr", "fast", ["vae.lr", "'fast'", "positive number"]),
    ("vae.lr", "-1e-3", ["vae.lr", "positive number"]),
    ("vae.lr", True, ["vae.lr", "positive number"]),
    ("vae.lr", None, ["vae.lr", "positive number"]),
    ("vae.lr", float("inf"), ["vae.lr", "positive number"]),
    ("vae.lr", "inf", ["vae.lr", "positive number"]),
    ("vae.lr", float("nan"), ["vae.lr", "positive number"]),
    ("vae.lr", [0.001], ["vae.lr", "positive number"]),
    ("vae.lr", 1.5, ["vae.lr", "1.5", "at most 1"]),
    ("vae", None, ["vae", "mapping", "kind, latent_dim, hidden, epochs, batch_size, lr"]),
    ("vae", [1], ["vae", "mapping", "kind, latent_dim", "a vae also takes beta"]),
    ("vae.dropout", 0.1, ["vae.dropout", "not a known key", "kind, latent_dim"]),
    ("vae.lr", DELETE, ["vae.lr", "missing", "kind, latent_dim, hidden, epochs, batch_size, lr"]),
    ("vae.kind", DELETE, ["vae.kind", "missing", "a wae also takes mmd_weight"]),
    # the keys of a kind: beta weighs a VAE's KL term, so it is a VAE's key only
    ("vae.beta", DELETE, ["vae.beta", "missing", "kind, latent_dim, hidden, epochs, batch_size"]),
    ("vae.beta", -0.5, ["vae.beta", "-0.5", "a number from 0 to 100 (1 is the ELBO)"]),
    ("vae.beta", 101, ["vae.beta", "from 0 to 100"]),
    ("vae.beta", float("nan"), ["vae.beta", "from 0 to 100"]),
    ("vae.beta", float("inf"), ["vae.beta", "from 0 to 100"]),
    ("vae.beta", True, ["vae.beta", "True", "from 0 to 100"]),
    ("vae.beta", "1", ["vae.beta", "'1'", "from 0 to 100"]),
    ("vae.mmd_weight", 10, ["vae.mmd_weight", "not a known key", "vae takes kind"]),
    ("ae.beta", 1, ["ae.beta", "not a known key", "ae takes kind"]),
    ("ae.kind", "vae", ["ae.beta", "missing", "ae needs kind", "lr, beta"]),  # a kind's own keys
    # a declared model without its section (was: "models lists vae, but there is no vae section")
    ("vae", DELETE, ["no vae section", "dvc.yaml declares the model vae", "kind, latent_dim"]),
    ("ae_wide", DELETE, ["no ae_wide section", "dvc.yaml declares the model ae_wide"]),
    # a section holding a model that dvc.yaml does not declare (see also the attacks below)
    ("gan", {"kind": "gan"}, ["gan is a model's section", f"declares only the models {MODELS}"]),
    # data
    ("data.limit", -1, ["data.limit", "integer >= 0"]),
    ("data.limit", 0.5, ["data.limit", "integer >= 0"]),
    ("data.limit", True, ["data.limit", "integer >= 0"]),
    ("data.limit", "1000", ["data.limit", "integer >= 0"]),
    ("data.limit", 60001, ["data.limit", "60001", "from 0 to 60000", "0 means all images"]),
    ("data.sources", [], ["data.sources", "non-empty list", "torchvision"]),
    ("data.sources", "/usr/share/datasets/fashion-mnist", ["data.sources", "list"]),
    ("data.sources", [1], ["data.sources[0]", "a folder or 'torchvision'"]),
    ("data.sources", [""], ["data.sources[0]", "a folder or 'torchvision'"]),
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
    # precision
    ("precision", "fp16", ["precision", "'fp16'", "one of auto, fp32, bf16"]),
    ("precision", "BF16", ["precision", "one of auto, fp32, bf16"]),
    ("precision", None, ["precision", "one of auto, fp32, bf16"]),
    ("precision", DELETE, ["precision", "missing"]),
    # memory_gib: the budget that every stage's estimated peak must fit
    ("memory_gib", 0.5, ["memory_gib", "0.5", "a number from 1 to 64 (GiB)"]),
    ("memory_gib", 65, ["memory_gib", "from 1 to 64"]),
    ("memory_gib", "8G", ["memory_gib", "'8G'", "from 1 to 64"]),
    ("memory_gib", DELETE, ["memory_gib", "missing"]),
    # seeds
    ("seeds", [], ["seeds", "list of positive integers", "not empty"]),
    ("seeds", 1, ["seeds", "list of positive integers"]),
    ("seeds", [0], ["seeds[0]", "positive integer"]),
    ("seeds", [1, -2], ["seeds[1]", "positive integer"]),
    ("seeds", [1, 2.5], ["seeds[1]", "positive integer"]),
    ("seeds", [True], ["seeds[0]", "positive integer"]),
    ("seeds", [1, 2, 1], ["seeds", "without repeats"]),
    ("seeds", [SEED_MAX + 1], ["seeds[0]", f"from 1 to {SEED_MAX}"]),
    # 2**64: beyond every generator's seed, refused with the range that is allowed
    (
        "seeds",
        [18446744073709551616],
        ["seeds[0]", "18446744073709551616", f"from 1 to {SEED_MAX}"],
    ),
    ("seeds", list(range(1, MAX_SEEDS + 2)), ["seeds", f"at most {MAX_SEEDS} seeds"]),
    ("seeds", DELETE, ["seeds", "missing"]),
    # models: dvc.yaml declares them; params.yaml must not, since a name reaches commands
    (
        "models",
        ["ae", "vae", "ae_wide"],
        [
            "models",
            "not a known key",
            "data, device, precision",
            f"model dvc.yaml declares ({MODELS})",
        ],
    ),
    # progress_map
    ("progress_map.grid", 1, ["progress_map.grid", "integer >= 2"]),
    ("progress_map.grid", MAX_PROGRESS_GRID + 1, ["progress_map.grid", "from 2 to 32", LAPTOP]),
    ("progress_map.range", 0, ["progress_map.range", "positive number"]),
    ("progress_map.range", MAX_RANGE * 2, ["progress_map.range", "at most 1000"]),
    ("progress_map.size", 3, ["progress_map.size", "not a known key", "grid, range"]),
    ("progress_map", DELETE, ["progress_map", "missing"]),
    # latent_map
    ("latent_map.grid", 1, ["latent_map.grid", "integer >= 2"]),
    ("latent_map.grid", 0, ["latent_map.grid", "integer >= 2"]),
    ("latent_map.grid", 21.0, ["latent_map.grid", "integer >= 2"]),
    ("latent_map.grid", True, ["latent_map.grid", "integer >= 2"]),
    ("latent_map.grid", MAX_GRID + 1, ["latent_map.grid", f"from 2 to {MAX_GRID}", LAPTOP]),
    ("latent_map.grid", 1000, ["latent_map.grid", "1000", f"from 2 to {MAX_GRID}"]),
    ("latent_map.range", 0, ["latent_map.range", "positive number"]),
    ("latent_map.range", -4, ["latent_map.range", "positive number"]),
    ("latent_map.range", "wide", ["latent_map.range", "positive number"]),
    ("latent_map.range", 1e300, ["latent_map.range", "1e+300", "at most 1000"]),
    ("latent_map.range", float("inf"), ["latent_map.range", "inf", "at most 1000"]),
    ("latent_map.range", float("nan"), ["latent_map.range", "positive number"]),
    ("latent_map.range", MAX_RANGE + 0.5, ["latent_map.range", "at most 1000"]),
    ("latent_map.range", DELETE, ["latent_map.range", "missing", "grid, range, own_percentile"]),
    ("latent_map.size", 21, ["latent_map.size", "not a known key", "grid, range"]),
    ("latent_map.own_percentile", 50, ["latent_map.own_percentile", "from 0 to below 50"]),
    ("latent_map.own_percentile", -1, ["latent_map.own_percentile", "from 0 to below 50"]),
    ("latent_map.own_percentile", "1", ["latent_map.own_percentile", "number"]),
    ("latent_map.own_percentile", True, ["latent_map.own_percentile", "number"]),
    ("latent_map.own_percentile", float("nan"), ["latent_map.own_percentile", "below 50"]),
    ("latent_map.blank_std", 0, ["latent_map.blank_std", "positive number"]),
    ("latent_map.blank_std", -0.05, ["latent_map.blank_std", "positive number"]),
    ("latent_map.blank_std", 0.51, ["latent_map.blank_std", "at most 0.5"]),
    ("latent_map.min_tiles", 0, ["latent_map.min_tiles", "positive integer"]),
    ("latent_map.min_tiles", 442, ["latent_map.min_tiles", "from 1 to 441", "21 x 21 grid"]),
    ("latent_map.min_tiles", 10**9, ["latent_map.min_tiles", "from 1 to 441"]),
    ("latent_map.min_tiles", DELETE, ["latent_map.min_tiles", "missing"]),
    ("latent_map.min_confidence", 0, ["latent_map.min_confidence", "positive number"]),
    ("latent_map.min_confidence", 1.01, ["latent_map.min_confidence", "at most 1"]),
    ("latent_map.prior_samples", 0, ["latent_map.prior_samples", "positive integer"]),
    (
        "latent_map.prior_samples",
        MAX_PRIOR_SAMPLES + 1,
        ["latent_map.prior_samples", f"from 1 to {MAX_PRIOR_SAMPLES}"],
    ),
    ("latent_map.prior_seed", 0, ["latent_map.prior_seed", "positive integer"]),
    ("latent_map.prior_seed", SEED_MAX + 1, ["latent_map.prior_seed", f"from 1 to {SEED_MAX}"]),
    # judge
    ("judge.seeds", [], ["judge.seeds", "not empty"]),
    ("judge.seeds", [1, 1], ["judge.seeds", "without repeats"]),
    ("judge.seeds", [0], ["judge.seeds[0]", "positive integer"]),
    ("judge.seeds", [18446744073709551616], ["judge.seeds[0]", f"from 1 to {SEED_MAX}"]),
    ("judge.seeds", list(range(1, MAX_JUDGES + 2)), ["judge.seeds", f"at most {MAX_JUDGES}"]),
    ("judge.seeds", 1, ["judge.seeds", "list of positive integers"]),
    # a single judge's seed is refused by name, so the message says which keys there are
    ("judge.seed", 1, ["judge.seed", "not a known key", "seeds, channels, epochs"]),
    ("judge.channels", 0, ["judge.channels", "positive integer"]),
    ("judge.channels", 1000000, ["judge.channels", "1000000", f"from 1 to {MAX_CHANNELS}"]),
    ("judge.epochs", 0, ["judge.epochs", "positive integer"]),
    ("judge.epochs", MAX_EPOCHS + 1, ["judge.epochs", f"from 1 to {MAX_EPOCHS}"]),
    ("judge.batch_size", -128, ["judge.batch_size", "positive integer"]),
    ("judge.lr", 0, ["judge.lr", "positive number"]),
    ("judge.lr", 2, ["judge.lr", "at most 1"]),
    ("judge.dropout", 0.5, ["judge.dropout", "not a known key"]),
    # realism
    ("realism.k", 0, ["realism.k", "positive integer"]),
    ("realism.k", 441, ["realism.k", "from 1 to 440", "441 real images"]),
    ("realism.subsets", 0, ["realism.subsets", "positive integer"]),
    ("realism.subsets", MAX_SUBSETS + 1, ["realism.subsets", f"from 1 to {MAX_SUBSETS}"]),
    ("realism.seed", 0, ["realism.seed", "positive integer"]),
    ("realism.seed", SEED_MAX + 1, ["realism.seed", f"from 1 to {SEED_MAX}"]),
    ("realism.radius", 3, ["realism.radius", "not a known key", "k, subsets, seed"]),
    # paths
    ("interpolate.pairs", 0, ["interpolate.pairs", "positive integer"]),
    ("interpolate.pairs", MAX_PAIRS + 1, ["interpolate.pairs", f"from 1 to {MAX_PAIRS}"]),
    (
        "interpolate.pairs",
        MAX_PATH_IMAGES // 17 + 1,
        ["interpolate.pairs", "with interpolate.steps 16", "images"],
    ),
    (
        "interpolate.steps",
        MAX_PATH_IMAGES // 200,
        ["interpolate.pairs is 200", "with interpolate.steps"],
    ),
    ("judge.batch_size", 60000, ["judge.batch_size", "with 16 channels"]),
    ("interpolate.steps", 1, ["interpolate.steps", "integer >= 2"]),
    ("interpolate.steps", MAX_STEPS + 1, ["interpolate.steps", f"from 2 to {MAX_STEPS}"]),
    ("interpolate.seed", 0, ["interpolate.seed", "positive integer"]),
    ("interpolate.seed", SEED_MAX + 1, ["interpolate.seed", f"from 1 to {SEED_MAX}"]),
    ("interpolate.shown", 0, ["interpolate.shown", "positive integer"]),
    (
        "interpolate.shown",
        MAX_SHOWN + 1,
        ["interpolate.shown", f"from 1 to {MAX_SHOWN}", "interpolate.pairs"],
    ),
    ("interpolate.shown", DELETE, ["interpolate.shown", "missing", "pairs, steps, seed, shown"]),
    # evaluate
    ("evaluate.iw_samples", 0, ["evaluate.iw_samples", "positive integer"]),
    ("evaluate.iw_samples", 10000000, ["evaluate.iw_samples", f"from 1 to {MAX_IW_SAMPLES}"]),
    ("evaluate.knn_k", 0, ["evaluate.knn_k", "positive integer"]),
    ("evaluate.knn_k", 2.5, ["evaluate.knn_k", "positive integer"]),
    ("evaluate.knn_k", 1000000, ["evaluate.knn_k", "1000000", f"from 1 to {MAX_KNN_K}", LAPTOP]),
    # report
    ("report.figure_dpi", 0, ["report.figure_dpi", f"integer >= {MIN_DPI}"]),
    ("report.figure_dpi", MIN_DPI - 1, ["report.figure_dpi", f"at most {MAX_DPI}"]),
    ("report.figure_dpi", "110", ["report.figure_dpi", f"integer >= {MIN_DPI}"]),
    ("report.figure_dpi", 100000, ["report.figure_dpi", "100000", f"from {MIN_DPI} to {MAX_DPI}"]),
    ("report.style", "dark", ["report.style", "not a known key", "models, figure_dpi"]),
    ("report.models", [], ["report.models", "non-empty list", "models dvc.yaml declares"]),
    ("report.models", "vae", ["report.models", "'vae'", "non-empty list"]),
    ("report.models", None, ["report.models", "non-empty list"]),
    ("report.models", ["vae", "ae", "vae"], ["report.models", "without repeats"]),
    ("report.models", ["vae", "gan"], ["report.models[1]", "'gan'", MODELS]),
    ("report.models", ["vae", "../runs"], ["report.models[1]", "'../runs'", "dvc.yaml declares"]),
    (
        "report.models",
        ["x; touch owned; echo"],
        ["report.models[0]", "'x; touch owned; echo'", MODELS],
    ),
    ("report.models", ["vae", 3], ["report.models[1]", "dvc.yaml declares"]),
    ("report.models", DELETE, ["report.models", "missing", "models, figure_dpi"]),
    # top level
    ("epochs", 10, ["epochs", "not a known key", "data, device, precision, memory_gib, seeds"]),
    ("latent_maps", {"grid": 21}, ["latent_maps", "not a known key"]),
    ("judge", DELETE, ["judge", "missing", "data, device, precision, memory_gib, seeds"]),
    ("realism", DELETE, ["realism", "missing"]),
    ("interpolate", DELETE, ["interpolate", "missing"]),
    ("report", DELETE, ["report", "missing"]),
]


@pytest.mark.parametrize(("key", "value", "words"), BAD, ids=[f"{k}={v!r}" for k, v, _ in BAD])
def test_bad_value_is_refused_in_one_sentence(default_params, key, value, words):
    message = refused(mutate(default_params, key, value))
    assert message.startswith("params.yaml: ")
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def typed(p: params.Params, key: str) -> Any:
    """The validated value of a dotted key of params.yaml."""
    head, _, rest = key.partition(".")
    if head in p.models:
        return getattr(p.models[head], rest)
    if head == "data":
        return {"limit": p.limit, "sources": p.sources}[rest]
    node: Any = getattr(p, head)
    return getattr(node, rest) if rest else node


# Values on the allowed side of each boundary (and the odd forms that are meant to pass).
GOOD = [
    ("vae.latent_dim", 2),
    ("vae.hidden", []),
    ("vae.hidden", [1]),
    ("vae.hidden", [MAX_WIDTH]),
    ("vae.hidden", [1024, 256, 64]),
    ("vae.hidden", [4] * MAX_LAYERS),
    ("vae.epochs", 1),
    ("vae.epochs", MAX_EPOCHS),
    ("vae.batch_size", 1),
    ("vae.batch_size", 60000),
    ("vae.lr", 1e-12),
    ("vae.lr", 1),
    ("vae.beta", 0),  # no prior term
    ("vae.beta", 0.5),
    ("vae.beta", 100),
    ("data.limit", 0),
    ("data.limit", 60000),
    ("data.limit", 1000),
    ("data.sources", ["torchvision"]),
    ("device", "auto"),
    ("device", "cpu"),
    ("device", "cuda"),  # a value; whether a GPU is visible is the validate stage's check
    ("precision", "auto"),
    ("precision", "fp32"),
    ("precision", "bf16"),
    ("memory_gib", 2),
    ("memory_gib", 7.5),
    ("memory_gib", 64),
    ("seeds", [1]),
    ("seeds", [3, 1, 2]),
    ("seeds", [SEED_MAX]),
    ("seeds", list(range(1, MAX_SEEDS + 1))),
    ("progress_map.grid", 2),
    ("progress_map.grid", MAX_PROGRESS_GRID),
    ("progress_map.range", MAX_RANGE),
    ("latent_map.grid", MAX_GRID),
    ("latent_map.range", 1e-3),
    ("latent_map.range", 4),
    ("latent_map.range", MAX_RANGE),
    ("latent_map.own_percentile", 0),
    ("latent_map.own_percentile", 49.9),
    ("latent_map.blank_std", 1e-9),
    ("latent_map.blank_std", 0.5),
    ("latent_map.min_tiles", 1),
    ("latent_map.min_tiles", 441),  # every tile of the 21 x 21 map
    ("latent_map.min_confidence", 1.0),
    ("latent_map.min_confidence", 1e-6),
    ("latent_map.prior_samples", MAX_PRIOR_SAMPLES),
    ("latent_map.prior_seed", SEED_MAX),
    ("judge.seeds", [1]),
    ("judge.seeds", list(range(1, MAX_JUDGES + 1))),
    ("judge.channels", 1),
    ("judge.channels", MAX_CHANNELS),
    ("realism.k", 1),
    ("realism.k", 440),  # one fewer than the 441 tiles, the smallest generated set
    ("realism.subsets", MAX_SUBSETS),
    ("realism.seed", SEED_MAX),
    ("interpolate.pairs", MAX_PATH_IMAGES // 17),  # with the default 16 steps: 17 images a path
    ("interpolate.steps", 2),
    ("interpolate.steps", MAX_PATH_IMAGES // 200 - 1),  # with the default 200 pairs
    ("interpolate.shown", MAX_SHOWN),
    ("interpolate.seed", SEED_MAX),
    ("evaluate.iw_samples", 1),
    ("evaluate.iw_samples", MAX_IW_SAMPLES),
    ("evaluate.knn_k", 1),
    ("evaluate.knn_k", MAX_KNN_K),
    ("report.figure_dpi", MIN_DPI),
    ("report.figure_dpi", MAX_DPI),
    ("report.models", ["vae"]),  # the other sections stay, set aside
    ("report.models", ["ae_wide", "vae"]),  # in the report's order
]


@pytest.mark.parametrize(("key", "value"), GOOD, ids=[f"{k}={v!r}" for k, v in GOOD])
def test_boundary_value_is_accepted(default_params, key, value):
    p = params.validate(mutate(default_params, key, value), DECLARED)
    got = typed(p, key)
    if key.endswith((".lr", ".beta")) or key == "memory_gib":  # numbers, read as floats
        assert got == float(value) and isinstance(got, float)
    else:
        assert got == value


# Values that are allowed only with others: checked together.


def test_min_tiles_is_checked_against_the_grid(default_params):
    default_params["latent_map"].update(grid=2, min_tiles=5)
    message = refused(default_params)
    assert "latent_map.min_tiles is 5" in message
    assert "from 1 to 4 (the tiles of a 2 x 2 grid)" in message
    default_params["latent_map"]["min_tiles"] = 4
    default_params["realism"]["k"] = 3  # below the 4 tiles of the grid
    assert params.validate(default_params, DECLARED).latent_map.grid == 2


def test_realism_k_must_leave_k_neighbours_in_the_smallest_generated_set(default_params):
    # the paths' middle images: pairs * (steps - 1) = 2 * 3 = 6 is now the fewest
    default_params["interpolate"].update(pairs=2, steps=4, shown=2)
    default_params["realism"]["k"] = 6
    message = refused(default_params)
    assert "realism.k is 6" in message and "from 1 to 5" in message and "6 real images" in message
    default_params["realism"]["k"] = 5
    assert params.validate(default_params, DECLARED).realism.k == 5
    # the test images: data.limit 50 leaves 50 test images, fewer than the 441 tiles
    default_params["interpolate"].update(pairs=200, steps=16, shown=6)
    default_params["data"]["limit"] = 50
    default_params["realism"]["k"] = 50
    assert "from 1 to 49" in refused(default_params)
    default_params["realism"]["k"] = 49
    assert params.validate(default_params, DECLARED).realism.k == 49


def test_paths_shown_is_at_most_the_pairs(default_params):
    default_params["interpolate"].update(pairs=3, shown=4)
    message = refused(default_params)
    assert "interpolate.shown is 4" in message and "from 1 to 3" in message
    assert "interpolate.pairs, 3" in message
    default_params["interpolate"]["shown"] = 3
    assert params.validate(default_params, DECLARED).interpolate.shown == 3


def test_knn_k_is_at_most_the_training_codes(default_params):
    default_params["data"]["limit"] = 4  # four training codes, and default knn_k 5
    default_params["realism"]["k"] = 3  # 4 test images leave room for k = 3
    message = refused(default_params)
    for word in ["evaluate.knn_k is 5", "from 1 to 4", "training codes", "data.limit 4"]:
        assert word in message, message
    default_params["evaluate"]["knn_k"] = 4
    assert params.validate(default_params, DECLARED).evaluate.knn_k == 4
    # with all 60,000 images, the bound is the laptop's
    default_params["data"]["limit"] = 0
    default_params["evaluate"]["knn_k"] = MAX_KNN_K + 1
    assert LAPTOP in refused(default_params)


def test_a_limit_of_one_image_is_refused(default_params):
    default_params["data"]["limit"] = 1  # one image: no neighbour for any k
    message = refused(default_params)
    assert message.startswith("params.yaml: data.limit is 1")
    assert "at least 2" in message


@pytest.mark.parametrize(
    "change",
    [{"data": {"limit": 1}}, {"interpolate": {"pairs": 1, "steps": 2, "shown": 1}}],
    ids=["limit-1", "one-middle-image"],
)
def test_an_impossible_bound_names_the_param_that_makes_it(default_params, change):
    for section, values in change.items():
        default_params[section].update(values)
    message = refused(default_params)
    assert "from 1 to 0" not in message, message
    assert any(f"{s}.{k}" in message for s, v in change.items() for k in v), message


@pytest.mark.parametrize("model", ["ae", "ae_wide"])
def test_every_model_section_gets_the_same_rules(default_params, model):
    raw = copy.deepcopy(default_params)
    with pytest.raises(UserError, match=rf"{model}\.latent_dim is 3.*2-D code"):
        params.validate(mutate(raw, f"{model}.latent_dim", 3), DECLARED)
    raw = copy.deepcopy(default_params)
    with pytest.raises(UserError, match=rf"{model}\.hidden\[0\] is 0"):
        params.validate(mutate(raw, f"{model}.hidden", [0]), DECLARED)
    raw = copy.deepcopy(default_params)
    with pytest.raises(UserError, match=rf"{model}\.hidden\[0\] is 1000000000.*from 1 to 4096"):
        params.validate(mutate(raw, f"{model}.hidden", [1000000000]), DECLARED)


@pytest.mark.parametrize("name", ["../runs", "x; touch /tmp/owned", "vae_wdie", "gan"])
def test_a_model_section_that_dvc_yaml_does_not_declare_is_refused(default_params, name):
    """A model's keys under any other name (a path, a command, a misspelt model) are refused,
    naming the models dvc.yaml declares; before, they passed and were listed as models."""
    default_params[name] = copy.deepcopy(default_params["vae"])
    message = refused(default_params)
    assert message.startswith(f"params.yaml: {name if name.isidentifier() else repr(name)} is")
    assert f"dvc.yaml declares only the models {MODELS}" in message


def test_a_model_dvc_yaml_stops_declaring_must_lose_its_section(default_params):
    default_params["report"]["models"] = ["vae"]
    assert "ae is a model's section" in refused(default_params, ["vae"])
    for name in DECLARED:
        if name != "vae":
            del default_params[name]
    assert list(params.validate(default_params, ["vae"]).models) == ["vae"]


def test_shipped_params_are_valid_and_typed(repo_params):
    assert "models" not in repo_params  # the models are declared by dvc.yaml
    p = params.validate(repo_params, DECLARED)
    assert set(p.models) == set(DECLARED)
    for name, m in p.models.items():
        assert m.name == name
        assert m.latent_dim == 2
        assert isinstance(m.lr, float) and m.lr > 0
    assert p.latent_map.grid >= 2 and p.latent_map.range > 0
    assert p.report.models == repo_params["report"]["models"]
    assert [m.name for m in p.compared] == p.report.models
    assert p.judge.seeds == repo_params["judge"]["seeds"]
    assert isinstance(p.latent_map.own_percentile, float)
    assert p.images("train") == 60000 and p.images("test") == 10000


def test_images_follows_the_limit(default_params):
    default_params["data"]["limit"] = 20000
    p = params.validate(default_params, DECLARED)
    assert (p.images("train"), p.images("test")) == (20000, 10000)


def test_load_reads_the_declared_models_from_dvc_yaml():
    p = params.load(REPO / "params.yaml", REPO / "dvc.yaml")
    assert list(p.models) == DECLARED  # exactly the declared models, in dvc.yaml's order


def test_load_with_a_pipeline_that_declares_fewer_models(tmp_path, repo_params):
    raw = {k: v for k, v in repo_params.items() if k not in DECLARED or k == "vae"}
    raw["report"] = {**raw["report"], "models": ["vae"]}
    (tmp_path / "params.yaml").write_text(params.dump_yaml(raw))
    (tmp_path / "dvc.yaml").write_text("vars:\n  - models: [vae]\nstages: {}\n")
    p = params.load(tmp_path / "params.yaml", tmp_path / "dvc.yaml")
    assert p.report.models == ["vae"] and list(p.models) == ["vae"]
    raw["report"]["models"] = ["vae", "ae"]
    (tmp_path / "params.yaml").write_text(params.dump_yaml(raw))
    with pytest.raises(UserError, match=r"report\.models\[1\] is 'ae'.*declares, vae$"):
        params.load(tmp_path / "params.yaml", tmp_path / "dvc.yaml")


@pytest.mark.parametrize(
    "models",
    [
        "[ae, ../runs]",
        "[ae, 'x; touch owned; echo']",
        "[ae, my-vae]",
        "[ae, 'a b']",
        "[ae, 3]",
        "[ae, '']",
        "[ae, null]",
        "[]",
        "[ae, data]",
        "[vae, mechanism]",
    ],
)
def test_declared_models_refuses_names_a_model_cannot_take(tmp_path, models):
    pipeline = tmp_path / "dvc.yaml"
    pipeline.write_text(f"vars:\n  - models: {models}\nstages: {{}}\n")
    with pytest.raises(UserError) as info:
        params.declared_models(pipeline)
    message = str(info.value)
    assert message.startswith(str(pipeline))
    assert "letters, digits and _" in message
    assert_one_sentence(message)
    assert not (tmp_path / "owned").exists()


@pytest.mark.parametrize(
    "text",
    [
        "stages: {}\n",  # no vars
        "vars:\n  - other: [1]\n",  # vars without models
        "vars:\n  - models: ae\n",  # models not a list
        "[1, 2]\n",  # not a mapping
        "",  # empty
    ],
    ids=["no-vars", "no-models", "not-a-list", "not-a-mapping", "empty"],
)
def test_declared_models_needs_a_models_list(tmp_path, text):
    pipeline = tmp_path / "dvc.yaml"
    pipeline.write_text(text)
    with pytest.raises(UserError, match=r"declares no `models` list under `vars`") as info:
        params.declared_models(pipeline)
    assert_one_sentence(str(info.value))


def test_declared_models_takes_the_first_models_list(tmp_path):
    pipeline = tmp_path / "dvc.yaml"
    pipeline.write_text("vars:\n  - other: 1\n  - models: [vae, ae_2]\n  - models: [x]\n")
    assert params.declared_models(pipeline) == ["vae", "ae_2"]


def test_declared_models_missing_or_invalid_pipeline(tmp_path):
    with pytest.raises(UserError, match="missing; run stages from the repository root"):
        params.declared_models(tmp_path / "dvc.yaml")
    (tmp_path / "dvc.yaml").write_text("vars: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML") as info:
        params.declared_models(tmp_path / "dvc.yaml")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["data", "judge", "report"])
def test_declared_models_refuses_a_built_in_key(tmp_path, name):
    pipeline = tmp_path / "dvc.yaml"
    pipeline.write_text(f"vars:\n  - models: [vae, {name}]\n")
    with pytest.raises(UserError) as info:
        params.declared_models(pipeline)
    assert repr(name) in str(info.value) or f" {name}" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (None, ["params.yaml", "mapping", "data, device"]),  # an empty file
        ([1, 2], ["params.yaml", "mapping"]),
        ("epochs: 3", ["params.yaml", "mapping"]),
    ],
)
def test_whole_file_not_a_mapping(raw, words):
    message = refused(raw)
    for word in words:
        assert word in message


def test_empty_mapping_names_the_first_missing_model():
    message = refused({})
    assert "no ae section" in message and "dvc.yaml declares the model ae" in message


def test_unknown_model_on_the_command_line(default_params):
    p = params.validate(default_params, DECLARED)
    with pytest.raises(
        UserError, match=rf"unknown model 'gan'; dvc.yaml declares the models {MODELS}"
    ):
        p.model("gan")
    assert p.model("vae").kind == "vae"


def test_a_batch_of_a_wide_model_is_bounded_by_its_widest_layer(default_params):
    default_params["vae"]["hidden"] = [4096]
    default_params["vae"]["batch_size"] = 60000  # 60000 x 4096 floats: 1 GB for one layer
    message = refused(default_params)
    assert message.startswith("params.yaml: vae.batch_size is 60000")
    assert "at most 16384 with a widest layer of 4096 units" in message
    default_params["vae"]["batch_size"] = 16384
    params.validate(default_params, DECLARED)


def test_a_huge_value_is_quoted_short(repo_params):
    raw = copy.deepcopy(repo_params)
    raw["seeds"] = list(range(1, 100_001))
    with pytest.raises(UserError) as info:
        params.validate(raw, DECLARED)
    message = str(info.value)
    assert len(message) < 300 and "[1, 2, 3," in message and "...]" in message


def wae_files(folder: Path, repo_params: dict[str, Any], **wae: Any) -> tuple[Path, Path]:
    """params.yaml and a dvc.yaml that declares one more model, a WAE, with the section `wae`."""
    pipeline = folder / "dvc.yaml"
    pipeline.write_text(f"vars:\n  - models: [{', '.join([*DECLARED, 'wae'])}]\nstages: {{}}\n")
    raw = copy.deepcopy(repo_params)
    raw["wae"] = {**raw["ae_wide"], "kind": "wae", "mmd_weight": 100, **wae}
    raw["wae"] = {k: v for k, v in raw["wae"].items() if v is not DELETE}
    (folder / "params.yaml").write_text(params.dump_yaml(raw))
    return folder / "params.yaml", pipeline


def test_a_wae_section_is_read_as_its_kind(tmp_path, repo_params):
    p = params.load(*wae_files(tmp_path, repo_params))
    wae = p.model("wae")
    assert isinstance(wae, params.WAEParams) and isinstance(wae, params.ModelParams)
    assert (wae.kind, wae.mmd_weight, wae.hidden) == ("wae", 100.0, [512])
    assert isinstance(wae.mmd_weight, float) and not hasattr(wae, "beta")
    vae = p.model("vae")
    assert isinstance(vae, params.VAEParams) and vae.beta == 1.0 and not hasattr(vae, "mmd_weight")
    assert type(p.model("ae")) is params.AEParams


@pytest.mark.parametrize(
    ("wae", "words"),
    [
        ({"mmd_weight": DELETE}, ["wae.mmd_weight is missing", "lr, mmd_weight"]),
        ({"mmd_weight": -1}, ["wae.mmd_weight is -1", "a number from 0 to 10000"]),
        ({"mmd_weight": 1e5}, ["wae.mmd_weight is 100000.0", "from 0 to 10000"]),
        ({"mmd_weight": "high"}, ["wae.mmd_weight is 'high'", "from 0 to 10000"]),
        ({"beta": 1}, ["wae.beta is not a known key", "wae takes kind", "mmd_weight"]),
        ({"kind": "WAE"}, ["wae.kind is 'WAE'", "one of ae, vae, wae"]),
    ],
)
def test_a_wae_section_is_refused_by_its_kind_s_rules(tmp_path, repo_params, wae, words):
    with pytest.raises(UserError) as info:
        params.load(*wae_files(tmp_path, repo_params, **wae))
    for word in words:
        assert word in str(info.value), str(info.value)
    assert_one_sentence(str(info.value))


def test_an_integer_too_long_to_print_is_refused_by_its_size(default_params):
    default_params["data"]["limit"] = 10**5000  # Python prints at most 4300 digits
    message = refused(default_params)
    assert message.startswith("params.yaml: data.limit is <an integer of 5001 digits>, but it")


def test_a_wae_batch_size_leaving_a_last_batch_of_one_image_is_refused(default_params):
    default_params["data"]["limit"] = 513
    message = refused(mutate(default_params, "wae.batch_size", 256))  # 256 + 256 + 1
    assert "wae.batch_size is 256" in message and "513 training images" in message
    params.validate(mutate(default_params, "wae.batch_size", 257), DECLARED)  # 257 + 256
    params.validate(mutate(default_params, "vae.batch_size", 256), DECLARED)  # a VAE's may

"""The memory each stage would need at its peak, estimated from the params it reads, so that the
validate stage refuses a combination of values that no bound on a single value catches.

An estimate adds what every such process holds before it works (the interpreter, torch, the data
files it reads whole), the large arrays a stage keeps while it works, and the largest of those it
holds only for a while (a distance matrix, a batch being measured), each sized as the stage's code
allocates it (float32). It counts the CPU's memory: on a GPU the same arrays live there. The
factors below were checked against measured peaks (benchmarks/RESULTS.md) and err on the high
side; the report, download and validate stages hold nothing that the params make large.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from latentlab.core.errors import UserError
from latentlab.core.fashion_mnist import FILES, IMAGE_SIDE

if TYPE_CHECKING:
    from latentlab.core.params import ModelParams, Params

GIB = 2**30
FLOAT = 4  # bytes: every large array is float32
PIXELS = IMAGE_SIDE * IMAGE_SIDE
PROCESS = 768 * 2**20  # a stage with torch, DVCLive, pandas and scipy imported, before its work
DATA_FILES = sum(f.size for f in FILES)  # a stage reads each file it needs whole
# Sizes set in the layers above, which this layer cannot import (tests/test_memory.py checks that
# they agree): the rows of a realism distance block, a judge's batch when it measures,
# the images of a log-likelihood batch and of its decoded slice on a CPU, and the images the
# evaluate stage encodes at once.
REALISM_CHUNK = 2048
JUDGE_BATCH = 1000
IW_BATCH, IW_SLICE = 100, 10
ENCODE_BATCH = 2000
# Floats per image of a training step besides the weights: per hidden unit (encoder and decoder)
# the ReLU output kept for backward and its gradient; per pixel the input, the logits, the loss's
# temporaries and the logits' gradient. A judge's step per channel: its first convolution's
# output (28 x 28) with its gradient and the pooled maps, counted at 3.5 maps.
TRAIN_PER_UNIT, TRAIN_PER_PIXEL = 2, 4
# A stacked training's copies of the weights per seed: the seed's own model, its slice of the
# stack, the gradient, Adam's two moments, and the bf16 casts of the weights and the gradients.
TRAIN_WEIGHT_COPIES = 6
# A k-d tree of the training codes (scipy's cKDTree, float64): the codes, its copy of them, its
# index and the query's answers, counted as this many float64 copies of the codes.
KD_TREE_FLOATS = 4
JUDGE_PER_CHANNEL = 7 * PIXELS // 2


@dataclass(frozen=True)
class Part:
    """A large thing a stage holds: what, its bytes, the params that set it, and whether it is
    held only for a while (the largest such part counts, as they are not held at once)."""

    what: str
    bytes: int
    keys: tuple[str, ...]
    transient: bool = False


@dataclass(frozen=True)
class Peak:
    """A stage's estimated peak: what a process holds anyway, plus its parts."""

    stage: str
    parts: list[Part]

    @property
    def counted(self) -> list[Part]:
        """The parts the estimate adds: every lasting one and the largest transient one."""
        lasting = [part for part in self.parts if not part.transient]
        transient = [part for part in self.parts if part.transient]
        return lasting + ([max(transient, key=lambda part: part.bytes)] if transient else [])

    @property
    def bytes(self) -> int:
        """The whole estimate in bytes."""
        return PROCESS + DATA_FILES + sum(part.bytes for part in self.counted)

    @property
    def largest(self) -> Part:
        """The counted part that weighs most."""
        return max(self.counted, key=lambda part: part.bytes)


def mlp_weights(m: ModelParams) -> int:
    """The weights of a model: encoder 784 -> hidden -> head, decoder code -> hidden -> 784."""
    head = 2 * m.latent_dim if m.kind == "vae" else m.latent_dim
    widths = [PIXELS, *m.hidden]
    encoder = [*widths, head]
    decoder = [m.latent_dim, *reversed(widths)]
    return sum((a + 1) * b for layers in (encoder, decoder) for a, b in itertools.pairwise(layers))


def judge_weights(channels: int) -> int:
    """The weights of a judge CNN of `channels` channels (latentlab/judge/network.py)."""
    c = channels
    convolutions = (9 + 1) * c + (9 * c + 1) * 2 * c + 2 * (c + 2 * c)
    dense = (2 * c * (IMAGE_SIDE // 4) ** 2 + 1) * 8 * c + (8 * c + 1) * 10
    return convolutions + dense


def _features(p: Params) -> Part:
    j, n_test = p.judge, p.images("test")
    return Part(
        f"the judges' features of {n_test} test images",
        len(j.seeds) * n_test * 8 * j.channels * FLOAT,
        ("judge.seeds", "judge.channels", "data.limit"),
    )


def _balls(p: Params, size: int, sizes: tuple[str, ...]) -> list[Part]:
    """The test features and the k-NN balls of every real subset of `size` images (at most the
    test images), set by the params `sizes`, as the balls stage drew them."""
    j = p.judge
    width, s = 8 * j.channels, min(size, p.images("test"))
    keys = ("judge.seeds", "judge.channels", "realism.subsets", *sizes)
    return [
        _features(p),
        Part(
            f"the ball centres of {len(j.seeds)} judges x {p.realism.subsets} subsets x {s} "
            f"images x {width} features",
            len(j.seeds) * p.realism.subsets * s * width * FLOAT,
            keys,
        ),
        # The balls stage drew the radii; a stage that measures against them loads them.
        Part(
            f"the radii of {len(j.seeds)} judges x {p.realism.subsets} subsets x {s} images",
            len(j.seeds) * p.realism.subsets * s * FLOAT,
            keys,
        ),
        Part(
            "a block of distances to the balls",
            REALISM_CHUNK * s * (FLOAT + 1),
            sizes,
            transient=True,
        ),
    ]


def _measuring(p: Params, images: int) -> Part:
    """A judge's first convolution and its pooled maps on a batch of the images it measures."""
    batch = min(images, JUDGE_BATCH)
    return Part(
        f"{batch} images being measured by a judge",
        2 * batch * p.judge.channels * PIXELS * FLOAT,
        ("judge.channels",),
        transient=True,
    )


def train_peak(p: Params, m: ModelParams) -> Peak:
    """train@<model>: every seed trained at once as one stacked model (latentlab/nn/stacked.py),
    each seed's own model kept beside it."""
    per_image = TRAIN_PER_UNIT * 2 * sum(m.hidden) + TRAIN_PER_PIXEL * PIXELS
    seeds = len(p.seeds)
    return Peak(
        f"train@{m.name}",
        [
            Part(
                f"the weights of {seeds} seeds, twice (each seed's model and the stack), with "
                f"their gradients, Adam state and bf16 copies",
                (TRAIN_WEIGHT_COPIES * seeds + 1) * mlp_weights(m) * FLOAT,
                (f"{m.name}.hidden", "seeds"),
            ),
            Part(
                f"a batch of {m.batch_size} images through layers of {m.hidden} units, for each "
                f"of {seeds} seeds at once",
                seeds * m.batch_size * per_image * FLOAT,
                (f"{m.name}.batch_size", f"{m.name}.hidden", "seeds"),
            ),
        ],
    )


def judge_peak(p: Params) -> Peak:
    """judge: the training images as floats, every judge kept, one trained at a time."""
    j, n_train = p.judge, p.images("train")
    images = n_train * PIXELS * FLOAT
    return Peak(
        "judge",
        [
            Part(f"{n_train} training images as floats", images, ("data.limit",)),
            Part("their copy while they are scaled", images, ("data.limit",), transient=True),
            Part(
                f"the weights of {len(j.seeds)} judges, and one's gradients and Adam state",
                (len(j.seeds) + 3) * judge_weights(j.channels) * FLOAT,
                ("judge.seeds", "judge.channels"),
            ),
            # Counted beside the measuring: a training process keeps what it freed
            # (latentlab.nn.runtime.keep_freed_memory), so the two add up.
            Part(
                f"a batch of {j.batch_size} images through {j.channels} channels",
                j.batch_size * j.channels * JUDGE_PER_CHANNEL * FLOAT,
                ("judge.batch_size", "judge.channels"),
            ),
            _features(p),
            _measuring(p, p.images("test")),
        ],
    )


def render_peak(p: Params, m: ModelParams) -> Peak:
    """render@<model>: the balls of subsets as large as the map's tiles."""
    tiles = p.latent_map.grid**2
    return Peak(f"render@{m.name}", [*_balls(p, tiles, ("latent_map.grid",)), _measuring(p, tiles)])


def balls_peak(p: Params) -> Peak:
    """balls: every judge's test features, and one subset's distance matrix at a time with its
    transposed copy and its partition."""
    size = min(
        max(p.latent_map.grid**2, p.interpolate.pairs * (p.interpolate.steps - 1)), p.images("test")
    )
    return Peak(
        "balls",
        [
            _features(p),
            Part(
                f"a {size} x {size} distance matrix, its transposed copy and its partition",
                3 * size * size * FLOAT,
                ("latent_map.grid", "interpolate.pairs", "interpolate.steps"),
                transient=True,
            ),
        ],
    )


def calibrate_peak(p: Params) -> Peak:
    """calibrate: the render stage's balls, and four reference sets of as many images."""
    tiles = p.latent_map.grid**2
    references = min(tiles, p.images("train"))
    return Peak(
        "calibrate",
        [
            *_balls(p, tiles, ("latent_map.grid",)),
            _measuring(p, references),
            Part(
                f"four sets of {references} reference images",
                4 * references * PIXELS * FLOAT,
                ("latent_map.grid",),
            ),
        ],
    )


def interpolate_peak(p: Params, m: ModelParams) -> Peak:
    """interpolate@<model>: the balls of subsets as large as the middle images, and every path image
    with every judge's features of it."""
    pp, j = p.interpolate, p.judge
    images = pp.pairs * (pp.steps + 1)
    keys = ("interpolate.pairs", "interpolate.steps")
    return Peak(
        f"interpolate@{m.name}",
        [
            *_balls(p, pp.pairs * (pp.steps - 1), keys),
            Part(f"{images} path images", images * PIXELS * FLOAT, keys),
            Part(
                "their float64 copy and steps while evenness is measured",
                4 * images * PIXELS * FLOAT,
                keys,
                transient=True,
            ),
            Part(
                f"{len(j.seeds)} judges' features of {images} path images",
                len(j.seeds) * images * (8 * j.channels + 10) * FLOAT,
                (*keys, "judge.seeds", "judge.channels"),
            ),
            _measuring(p, images),
        ],
    )


def evaluate_peak(p: Params, m: ModelParams) -> Peak:
    """evaluate@<model>: both splits as floats, the k-NN distances and the importance samples."""
    n_train, n_test = p.images("train"), p.images("test")
    samples = p.evaluate.iw_samples if m.kind == "vae" else 0
    # Per sample: its codes and weights for a batch, and the decoded slice through every layer.
    per_sample = IW_BATCH * 8 + IW_SLICE * (7 * PIXELS + 2 * sum(m.hidden))
    hidden = (f"{m.name}.hidden",)
    return Peak(
        f"evaluate@{m.name}",
        [
            Part(
                f"{n_train + n_test} images as floats",
                (n_train + n_test) * PIXELS * FLOAT,
                ("data.limit",),
            ),
            Part("the model's weights", mlp_weights(m) * FLOAT, hidden),
            Part(
                "the k-d tree of the training codes for the k-NN accuracy (float64)",
                KD_TREE_FLOATS * n_train * m.latent_dim * 2 * FLOAT,
                ("data.limit",),
                transient=True,
            ),
            Part(
                f"{samples} importance samples of {IW_BATCH} images",
                samples * per_sample * FLOAT,
                ("evaluate.iw_samples", *hidden),
                transient=True,
            ),
            Part(
                f"{ENCODE_BATCH} images being encoded",
                ENCODE_BATCH * 3 * max([PIXELS, *m.hidden]) * FLOAT,
                hidden,
                transient=True,
            ),
        ],
    )


def peaks(p: Params) -> list[Peak]:
    """Every stage's estimated peak, the per-model stages for each model of `p`."""
    per_model = [
        peak(p, m)
        for m in p.models.values()
        for peak in (train_peak, evaluate_peak, render_peak, interpolate_peak)
    ]
    return [judge_peak(p), balls_peak(p), calibrate_peak(p), *per_model]


def check(p: Params) -> None:
    """UserError naming the first stage whose estimated peak is above memory_gib."""
    for peak in peaks(p):
        if peak.bytes > p.memory_gib * GIB:
            part = peak.largest
            raise UserError(
                f"params.yaml: the {peak.stage} stage would need about {peak.bytes / GIB:.1f} GiB "
                f"at its peak, above memory_gib {p.memory_gib:g}; most of it is {part.what} "
                f"({part.bytes / GIB:.1f} GiB), set by {', '.join(part.keys)}"
            )

"""One training epoch, in this process: the matmul floors, our VAE and AE, the lab notebook's loop.

The measures are interleaved and repeated: other work on the machine only ever adds time, so each
measure's best counts, and a ratio is taken between neighbours in time (a slow spell of the host
then slows both), its median over the repeats that other processes left undisturbed.
- the floors: the matrix products of one VAE epoch (forward and backward of its linear layers at
  the params' batch size, no input gradient for the first layer), with torch.addmm and torch.mm
  on exactly its shapes, back to back for as many batches as an epoch has, once in fp32 and once
  in bf16 (the GEMM rates of the two precisions);
- the marginal epoch per seed of latentlab.training.train for the VAE and the AE (params.yaml
  `vae`, `ae`) with the default seeds trained together and the default precision: the time from
  the end of the first epoch to the end of the second, divided by the number of seeds;
- one epoch of the lab notebook's loop on the same VAE: torchvision's FashionMNIST and
  DataLoader, sigmoid outputs with F.binary_cross_entropy, torch.optim.Adam, fp32.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.procwatch import QUIET, load_average, wait_for_quiet, with_others_share
from latentlab.core import params
from latentlab.core.fashion_mnist import load_split
from latentlab.nn.losses import kl_to_standard_normal
from latentlab.nn.models import LatentModel, build_model
from latentlab.nn.runtime import keep_freed_memory, native_bf16, resolve_runtime
from latentlab.nn.trained import new_model
from latentlab.training import train

MEASURES = ("floor", "floor_bf16", "ours_vae", "lab_vae", "ours_ae")  # the order of each repeat
CPU = torch.device("cpu")


def torch_info() -> dict[str, str]:
    """Torch's version and thread count, what it says of the CPU's bf16, and the precision the
    default params run in here, for the machine table."""
    p = params.load()
    return {
        "torch": torch.__version__,
        "torch threads": str(torch.get_num_threads()),
        "cpu (torch)": str(torch.cpu.get_capabilities().get("cpu_name", "?")),
        "native bf16": native_bf16(CPU) or "no",
        "precision": f"{p.precision}: {resolve_runtime('cpu', p.precision).precision}",
    }


def matmul_floor(
    model: nn.Module, n: int, batch_size: int, dtype: torch.dtype = torch.float32
) -> tuple[float, float]:
    """Seconds and FLOPs of the matrix products of one epoch of `model`'s linear layers, with
    operands of `dtype` (fp32 or bf16).

    nn.Linear computes x @ W^T + b forward (addmm), grad^T @ x for the weight gradient and
    grad @ W for the input gradient (mm); the first layer needs no input gradient. Operands stay
    in cache, so this is what the products alone cost, with an epoch's exposure to a busy host.
    """
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    flops = 0.0
    batches: list[tuple[int, list[Callable[[], object]]]] = []
    for rows, count in ((batch_size, n // batch_size), (n % batch_size, 1)):
        if not rows or not count:
            continue
        products: list[Callable[[], object]] = []
        for i, layer in enumerate(linears):
            w = torch.randn(layer.out_features, layer.in_features, dtype=dtype)
            b = torch.randn(layer.out_features, dtype=dtype)
            x = torch.randn(rows, layer.in_features, dtype=dtype)
            g = torch.randn(rows, layer.out_features, dtype=dtype)
            products.append(lambda x=x, w=w, b=b: torch.addmm(b, x, w.t()))
            products.append(lambda x=x, g=g: torch.mm(g.t(), x))
            flops += count * 2 * 2 * rows * layer.in_features * layer.out_features
            if i:
                products.append(lambda g=g, w=w: torch.mm(g, w))
                flops += count * 2 * rows * layer.in_features * layer.out_features
        batches.append((count, products))
    for _, products in batches:  # warm-up: first calls pick kernels and allocate
        for product in products:
            product()
    start = time.perf_counter()
    for count, products in batches:
        for _ in range(count):
            for product in products:
                product()
    return time.perf_counter() - start, flops


def lab_epoch(model: LatentModel, root: Path, batch_size: int, lr: float, limit: int = 0) -> float:
    """Seconds of one epoch of the lab notebook's loop: torchvision data, sigmoid + BCE, Adam."""
    # torchvision costs ~1.5 s of import, so only here; the pipeline itself never imports it.
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    dataset = datasets.FashionMNIST(
        str(root),
        train=True,
        transform=transforms.Compose(
            [transforms.ToTensor(), transforms.Lambda(lambda x: x.view(-1))]
        ),
    )
    data = Subset(dataset, range(limit)) if limit else dataset
    loader = DataLoader(data, batch_size=batch_size, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    start = time.perf_counter()
    for x, _ in loader:
        mu, logvar = model.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = torch.sigmoid(model.decode_logits(z))
        loss = F.binary_cross_entropy(recon, x, reduction="sum") / len(x)
        loss = loss + kl_to_standard_normal(mu, logvar)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


@dataclass
class Timing:
    """One measure over the repeats: each run's seconds and others' CPU share meanwhile."""

    runs: list[float] = field(default_factory=list)
    others: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        """The fastest run."""
        return min(self.runs)

    @property
    def best_others(self) -> float:
        """Others' share of the cores during the fastest run."""
        return self.others[self.runs.index(self.best)]


@dataclass
class Epochs:
    """Every measure's runs, the floor's FLOPs, and what else was seen on the way."""

    images: int
    threads: int
    seeds: int = 1  # trained together in each of our epochs
    native_bf16: bool = False
    timings: dict[str, Timing] = field(default_factory=lambda: {m: Timing() for m in MEASURES})
    flops: float = 0.0
    loads: list[str] = field(default_factory=list)
    deterministic: bool = False

    def clean(self) -> list[bool]:
        """Per repeat, whether other processes used under QUIET of the cores in every measure."""
        repeats = len(self.timings["floor"].runs)
        return [all(t.others[i] < QUIET for t in self.timings.values()) for i in range(repeats)]

    def ratios(self, numerator: str, denominator: str) -> list[float]:
        """Per repeat, the ratio of two measures taken seconds apart (undisturbed repeats only,
        when there are any)."""
        clean = self.clean() if any(self.clean()) else [True] * len(self.clean())
        pairs = zip(
            self.timings[numerator].runs, self.timings[denominator].runs, clean, strict=True
        )
        return [a / b for a, b, ok in pairs if ok]

    def median_ratio(self, numerator: str, denominator: str) -> float:
        """The median of ratios(numerator, denominator)."""
        return statistics.median(self.ratios(numerator, denominator))


def marginal_epoch(
    mp: params.ModelParams, images, seeds: list[int], precision: str
) -> tuple[float, dict[str, torch.Tensor]]:
    """Seconds of our second epoch per seed (the first one's end to the second's, all `seeds`
    trained together), and the first seed's weights after it."""
    models = {}
    for seed in seeds:
        torch.manual_seed(seed)  # the initial weights too: the same seed must give the same model
        models[seed] = new_model(mp)
    ends: list[float] = []
    train(
        models,
        images,
        name=mp.name,
        epochs=2,
        batch_size=mp.batch_size,
        lr=mp.lr,
        runtime=resolve_runtime("cpu", precision),
        progress=False,
        on_epoch=lambda epoch, means: ends.append(time.perf_counter()),
    )
    return (ends[1] - ends[0]) / len(seeds), models[seeds[0]].state_dict()


def measure_epochs(root: Path, repeats: int, max_wait: float, limit: int = 0) -> Epochs:
    """The floors, our VAE and AE epochs and the lab's VAE epoch, interleaved `repeats` times.

    `root` holds the Fashion-MNIST files (as latentlab.download.fetch leaves them); `limit` > 0
    uses only the first `limit` training images.
    """
    p = params.load()
    vae, ae = p.model("vae"), p.model("ae")
    images, _ = load_split(root, "train", limit)
    # train() sets this for its whole process; setting it first gives every measure, the floors
    # and the lab's loop included, the same allocator from the first repeat on.
    keep_freed_memory()
    result = Epochs(
        images=len(images),
        threads=torch.get_num_threads(),
        seeds=len(p.seeds),
        native_bf16=native_bf16(CPU) is not None,
    )
    states: list[dict[str, torch.Tensor]] = []

    def ours(mp: params.ModelParams) -> float:
        seconds, state = marginal_epoch(mp, images, p.seeds, p.precision)
        if mp is vae:  # same seeds every time: the weights must come out bit for bit the same
            states.append(state)
        return seconds

    def floor(dtype: torch.dtype) -> float:
        model = build_model(vae.kind, vae.latent_dim, vae.hidden)
        seconds, result.flops = matmul_floor(model, len(images), vae.batch_size, dtype)
        return seconds

    def lab() -> float:
        torch.manual_seed(1)
        model = build_model(vae.kind, vae.latent_dim, vae.hidden)
        return lab_epoch(model, root, vae.batch_size, vae.lr, limit)

    runs: dict[str, Callable[[], float]] = {
        "floor": lambda: floor(torch.float32),
        "floor_bf16": lambda: floor(torch.bfloat16),
        "ours_vae": lambda: ours(vae),
        "lab_vae": lab,
        "ours_ae": lambda: ours(ae),
    }
    for rep in range(1, repeats + 1):
        result.loads.append(load_average())
        for name in MEASURES:
            wait_for_quiet(max_wait)
            seconds, others = with_others_share(runs[name])
            result.timings[name].runs.append(seconds)
            result.timings[name].others.append(others)
        print(
            f"  repeat {rep}/{repeats}: "
            + ", ".join(f"{k} {t.runs[-1]:.2f} s" for k, t in result.timings.items())
            + f"; load {result.loads[-1]}",
            flush=True,
        )
    result.loads.append(load_average())
    if len(states) < 2:  # one repeat: train once more, untimed, to compare the weights
        ours(vae)
    result.deterministic = all(
        torch.equal(state[k], states[0][k]) for state in states[1:] for k in states[0]
    )
    return result

"""How fast the pipeline trains and reruns, against a floor and the lab's own loop.

    python -m benchmarks.bench            # everything; writes benchmarks/RESULTS.md (10-15 min)
    python -m benchmarks.bench --quick    # the in-process epochs only; prints, writes nothing

In one process, interleaved and repeated (the minimum counts, because other work on the machine
only ever adds time):
- the floor: the float32 matrix products of one VAE epoch (forward and backward of its linear
  layers over the training set at the params' batch size, no input gradient for the first
  layer), run with torch.addmm / torch.mm on exactly its shapes and layouts, back to back for
  as many batches as an epoch has;
- one epoch of latentlab.training.train for the VAE and the AE (params.yaml `vae`, `ae`);
- one epoch of the lab notebook's loop on the same VAE: torchvision's FashionMNIST and
  DataLoader, sigmoid outputs with F.binary_cross_entropy, plain Adam.
As whole processes, in a throwaway copy of the repository (git's files, a fresh git and DVC
cache): the default `dvc repro` from nothing, a no-op `dvc repro`, a `latent_map.range` change,
and each stage's import time, peak memory and time under DVC against its own process's lifetime.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from latentlab import fashion_mnist, params
from latentlab.losses import kl_to_standard_normal
from latentlab.models import LatentModel, build_model
from latentlab.training import keep_freed_memory, train

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "RESULTS.md"
GIB = 1 << 30

# The targets of issue 4; the comment says which way each limit goes.
FLOOR_RATIO = 1.6  # our VAE epoch / floor, at most
LAB_SPEEDUP = 3.5  # lab loop / our VAE epoch, at least
NOOP_S = 2.5  # no-op dvc repro, under
LATENT_MAP_S = 15.0  # dvc repro after a latent_map.range change, under
IMPORT_S = 3.0  # any stage's start-up and imports, at most
PEAK_BYTES = 1.5 * GIB  # any stage's peak resident memory, at most
STAGE_RATIO = 1.5  # a stage's time under DVC / its own process's lifetime, at most
QUIET = 0.1  # a measure counts as undisturbed while other processes use under this share of cores


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as the kernel gives them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> dict[str, str]:
    """What the numbers were taken on."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "os": platform.platform(),
    }


# ---------------------------------------------------------------- in process: the epochs


def matmul_floor(model: nn.Module, n: int, batch_size: int) -> tuple[float, float]:
    """Seconds and FLOPs of the matrix products of one epoch of `model`'s linear layers.

    nn.Linear computes x @ W^T + b forward (addmm), grad^T @ x for the weight gradient and
    grad @ W for the input gradient (mm); the first layer needs no input gradient. They run
    back to back, batch after batch, for as long as an epoch has batches: the same exposure to
    a busy machine as an epoch, but with operands that stay in cache.
    """
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    flops = 0.0
    batches: list[tuple[int, list[Callable[[], object]]]] = []
    for rows, count in ((batch_size, n // batch_size), (n % batch_size, 1)):
        products: list[Callable[[], object]] = []
        for i, layer in enumerate(linears):
            w = torch.randn(layer.out_features, layer.in_features)
            b = torch.randn(layer.out_features)
            x = torch.randn(rows, layer.in_features)
            g = torch.randn(rows, layer.out_features)
            products.append(lambda x=x, w=w, b=b: torch.addmm(b, x, w.t()))
            products.append(lambda x=x, g=g: torch.mm(g.t(), x))
            flops += count * 2 * 2 * rows * layer.in_features * layer.out_features
            if i:
                products.append(lambda g=g, w=w: torch.mm(g, w))
                flops += count * 2 * rows * layer.in_features * layer.out_features
        if rows and count:
            batches.append((count, products))
    for _, products in batches:  # warm-up
        for product in products:
            product()
    start = time.perf_counter()
    for count, products in batches:
        for _ in range(count):
            for product in products:
                product()
    return time.perf_counter() - start, flops


def lab_epoch(model: LatentModel, root: Path, batch_size: int, lr: float) -> float:
    """Seconds of one epoch of the lab notebook's loop: torchvision data, sigmoid + BCE, Adam."""
    # torchvision costs ~1.5 s of import, so only here; the pipeline itself never imports it.
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    dataset = datasets.FashionMNIST(
        str(root),
        train=True,
        transform=transforms.Compose(
            [transforms.ToTensor(), transforms.Lambda(lambda x: x.view(-1))]
        ),
    )
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True)
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


def machine_cpu_seconds() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine since boot, summed over its cores."""
    jiffies = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = jiffies[3] + jiffies[4]  # idle and iowait
    return (sum(jiffies) - idle) / tick, sum(jiffies) / tick


def own_cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished children (dvc and its stages)."""
    return sum(
        u.ru_utime + u.ru_stime
        for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )


def others_share(run: Callable[[], object]) -> tuple[float, float]:
    """Run `run`; its wall seconds and the share of all cores other processes used meanwhile."""
    busy0, total0 = machine_cpu_seconds()
    own0, start = own_cpu_seconds(), time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    busy1, total1 = machine_cpu_seconds()
    others = (busy1 - busy0) - (own_cpu_seconds() - own0)
    return seconds, max(0.0, others / max(total1 - total0, 1e-9))


def wait_for_quiet(max_wait: float, share: float = QUIET) -> float:
    """Wait (at most max_wait s) for a second in which others use under `share` of the cores.

    Torch's threads wait for each other at every operation, so one busy core elsewhere can
    slow an epoch several times over; waiting for a quiet moment keeps the numbers about us.
    Returns the others' share in the last second waited.
    """
    deadline = time.perf_counter() + max_wait
    while True:
        _, busy = others_share(lambda: time.sleep(1.0))
        if busy < share or time.perf_counter() >= deadline:
            return busy


@dataclass
class Timing:
    """Best seconds of a measure, with the others' share of the machine during that run."""

    seconds: float = float("inf")
    others: float = 0.0
    runs: list[float] = field(default_factory=list)
    runs_others: list[float] = field(default_factory=list)


@dataclass
class Epochs:
    """Best seconds per measure over the repeats, and what else was seen on the way."""

    timings: dict[str, Timing] = field(default_factory=dict)
    flops: float = 0.0
    loads: list[str] = field(default_factory=list)
    deterministic: bool = True

    def best(self, name: str) -> float:
        """The best seconds of a measure."""
        return self.timings[name].seconds

    def ratios(self, numerator: str, denominator: str) -> list[float]:
        """Per repeat, the ratio of two measures taken a few seconds apart."""
        pairs = zip(self.timings[numerator].runs, self.timings[denominator].runs, strict=True)
        return [a / b for a, b in pairs]

    def clean(self) -> list[bool]:
        """Per repeat, whether other processes used under QUIET of the cores in every measure."""
        repeats = len(self.timings["floor"].runs)
        return [all(t.runs_others[i] < QUIET for t in self.timings.values())
                for i in range(repeats)]


def measure_epochs(root: Path, repeats: int, max_wait: float) -> Epochs:
    """The floor, our VAE and AE epochs and the lab's VAE epoch, interleaved `repeats` times."""
    p = params.load()
    vae, ae = p.model("vae"), p.model("ae")
    images, _ = fashion_mnist.load_split(root, "train")
    device = torch.device("cpu")
    # train() sets this for the whole process; setting it first gives every measure, the floor
    # and the lab's loop included, the same allocator from the first repeat on.
    keep_freed_memory()
    result = Epochs()
    states: list[dict[str, torch.Tensor]] = []

    def measure(name: str, run: Callable[[], float]) -> None:
        """Time run() (which returns its own seconds) after waiting for a quiet machine."""
        wait_for_quiet(max_wait)
        box: list[float] = []
        _, others = others_share(lambda: box.append(run()))
        timing = result.timings.setdefault(name, Timing())
        timing.runs.append(box[0])
        timing.runs_others.append(others)
        if box[0] < timing.seconds:
            timing.seconds, timing.others = box[0], others

    def ours(mp: params.ModelParams) -> float:
        torch.manual_seed(1)
        model = build_model(mp.kind, mp.latent_dim, mp.hidden)
        start = time.perf_counter()
        train(model, images, name=mp.name, epochs=1, batch_size=mp.batch_size, lr=mp.lr,
              seed=1, device=device, progress=False)
        seconds = time.perf_counter() - start
        if mp is vae:  # same seed every repeat: the weights must come out bit for bit the same
            states.append(model.state_dict())
        return seconds

    def floor() -> float:
        model = build_model(vae.kind, vae.latent_dim, vae.hidden)
        seconds, result.flops = matmul_floor(model, len(images), vae.batch_size)
        return seconds

    def lab() -> float:
        torch.manual_seed(1)
        model = build_model(vae.kind, vae.latent_dim, vae.hidden)
        return lab_epoch(model, root, vae.batch_size, vae.lr)

    for rep in range(1, repeats + 1):
        result.loads.append(load_average())
        # Each ratio compares neighbours in time: a slow spell of the host then slows both.
        measure("floor", floor)
        measure("ours_vae", lambda: ours(vae))
        measure("lab_vae", lab)
        measure("ours_ae", lambda: ours(ae))
        print(
            f"  repeat {rep}/{repeats}: "
            + ", ".join(f"{k} {t.runs[-1]:.2f} s" for k, t in result.timings.items())
            + f"; load {result.loads[-1]}",
            flush=True,
        )
    result.loads.append(load_average())
    result.deterministic = all(
        torch.equal(state[k], states[0][k]) for state in states for k in state
    )
    return result


# ---------------------------------------------------------------- whole processes


def copy_repo(dest: Path) -> None:
    """Git's view of the working tree (tracked and untracked, not ignored) in a fresh git repo.

    Pipeline outputs that git sees (dvc.lock, uncached metrics under runs/, maps/ and
    reports/) are left out, so that `dvc repro` there starts from nothing.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    outputs = ("data", "runs", "maps", "reports")
    for name in listed:
        if not name or name == "dvc.lock" or name.split("/")[0] in outputs:
            continue
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost",
           "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "benchmark copy"]):
        subprocess.run([*git, *args], cwd=dest, check=True)


@dataclass
class StageProcess:
    """A stage's own process as the watcher saw it."""

    command: str
    started: float  # the kernel's start time of the process, in CLOCK_BOOTTIME seconds
    last_seen: float  # the last poll that found it running, on the same clock
    peak_bytes: int


class StageWatcher(threading.Thread):
    """Polls /proc for `python -m stages.<name> ...` processes in `cwd`: lifetime and peak RSS.

    A lifetime runs from the start time the kernel records (in 10 ms ticks) to the last poll
    that found the process, so it may be short by up to `interval` s. The peak is the kernel's
    VmHWM (the same high-water mark /usr/bin/time reports), read every `interval` s, so growth
    in a process's last `interval` s before exit could be missed.
    """

    def __init__(self, cwd: Path, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.cwd = str(cwd.resolve())
        self.interval = interval
        self.seen: dict[int, StageProcess] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.poll()
            self.done.wait(self.interval)

    def poll(self) -> None:
        now = time.clock_gettime(time.CLOCK_BOOTTIME)
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                # Read every time: the shell DVC starts may exec the stage in the same process.
                if pid not in self.seen:
                    args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
                    is_stage = len(args) > 2 and args[1] == "-m" and args[2].startswith("stages.")
                    if not is_stage or os.readlink(f"/proc/{pid}/cwd") != self.cwd:
                        continue
                    command = " ".join(["python", *args[1:]]).strip()
                    # Field 22 of /proc/<pid>/stat, counted after the parenthesised name.
                    ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
                    started = ticks / os.sysconf("SC_CLK_TCK")
                    self.seen[pid] = StageProcess(command, started, now, 0)
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:  # it exited meanwhile
                continue
            hwm = re.search(r"VmHWM:\s+(\d+) kB", status)
            process = self.seen[pid]
            process.last_seen = now
            if hwm:
                process.peak_bytes = max(process.peak_bytes, int(hwm.group(1)) * 1024)

    def stop(self) -> dict[str, StageProcess]:
        """Stop watching; the processes seen, by their command line."""
        self.done.set()
        self.join()
        return {p.command: p for p in self.seen.values()}


@dataclass
class Stage:
    """One stage run by `dvc repro`: its name, command and wall time between DVC's log lines."""

    name: str
    command: str = ""
    seconds: float = 0.0


@dataclass
class Repro:
    """One timed `dvc repro`."""

    seconds: float
    stages: list[Stage]
    output: str
    others: float = 0.0  # the share of all cores that other processes used meanwhile


def dvc_env() -> dict[str, str]:
    """The environment for DVC: this interpreter's folder first on PATH, so `python` is ours."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"  # log lines arrive when they are written: they are the clock
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def dvc_repro(cwd: Path, max_wait: float = 0.0) -> Repro:
    """Run `dvc repro` in cwd, after waiting up to max_wait s for a quiet machine.

    Each stage's time runs from its "Running stage" line to the next one (or to the end), so it
    includes DVC's own work for the stage: hashing, caching, locking.
    """
    wait_for_quiet(max_wait)
    box: list[Repro] = []
    _, others = others_share(lambda: box.append(_dvc_repro(cwd)))
    box[0].others = others
    return box[0]


def _dvc_repro(cwd: Path) -> Repro:
    start = time.perf_counter()
    # Its own process group, so that an interrupted benchmark can stop DVC and its stage too.
    process = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro"], cwd=cwd, env=dvc_env(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    assert process.stdout is not None
    stages: list[Stage] = []
    lines = []
    try:
        for line in process.stdout:
            now = time.perf_counter()
            lines.append(line)
            running = re.match(r"Running stage '([^']+)'", line)
            if running:
                if stages:
                    stages[-1].seconds = now - stages[-1].seconds
                stages.append(Stage(running.group(1), seconds=now))
            elif line.startswith("> ") and stages and not stages[-1].command:
                stages[-1].command = line[2:].strip()
        code = process.wait()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait()
    seconds = time.perf_counter() - start
    if stages:
        stages[-1].seconds = start + seconds - stages[-1].seconds
    output = "".join(lines)
    if code:
        raise RuntimeError(f"dvc repro failed in {cwd} (exit {code}):\n{output[-3000:]}")
    return Repro(seconds, stages, output)


def change_latent_range(params_file: Path) -> str:
    """Edit latent_map.range in place (keeping the file's comments); returns 'old -> new'."""
    text = params_file.read_text()
    pattern = re.compile(r"^(latent_map:[^\n]*\n(?:[ \t]+[^\n]*\n)*?[ \t]+range:[ \t]*)([^\s#]+)",
                         re.MULTILINE)
    match = pattern.search(text)
    if not match:
        raise RuntimeError(f"no latent_map.range in {params_file}")
    old = float(match.group(2))
    new = old - 1 if old > 1 else old + 1
    params_file.write_text(pattern.sub(lambda m: f"{m.group(1)}{new:g}", text, count=1))
    return f"{old:g} -> {new:g}"


def import_seconds(cwd: Path, module: str, calls: int = 3) -> float:
    """The fastest of `calls` fresh interpreters that only import `module`."""
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], cwd=cwd, check=True)
        best = min(best, time.perf_counter() - start)
    return best


@dataclass
class Pipeline:
    """The whole-process measurements."""

    full: Repro
    processes: dict[str, StageProcess]
    noops: list[Repro]
    change: str
    latent_map: Repro
    imports: dict[str, float]
    loads: dict[str, str]


def measure_pipeline(max_wait: float) -> Pipeline:
    """Full repro with its stages watched, no-ops, a latent_map change and import times."""
    with tempfile.TemporaryDirectory(prefix="latentlab-bench-") as tmp:
        copy = Path(tmp)
        copy_repo(copy)
        loads = {"before full repro": load_average()}
        print("  full dvc repro from nothing ...", flush=True)
        watcher = StageWatcher(copy)
        watcher.start()
        try:
            full = dvc_repro(copy, max_wait)
        finally:
            processes = watcher.stop()
        loads["after full repro"] = load_average()
        print(f"  full repro {full.seconds:.1f} s; no-op repro x3 ...", flush=True)
        noops = [dvc_repro(copy, max_wait) for _ in range(3)]
        change = change_latent_range(copy / "params.yaml")
        print(f"  latent_map.range {change} ...", flush=True)
        loads["before latent_map change"] = load_average()
        latent_map = dvc_repro(copy, max_wait)
        print(f"  latent_map change {latent_map.seconds:.1f} s; import times ...", flush=True)
        modules = sorted(p.stem for p in (copy / "stages").glob("*.py") if p.stem != "__init__")
        imports = {}
        for module in modules:
            wait_for_quiet(max_wait)
            imports[module] = import_seconds(copy, f"stages.{module}")
        loads["after imports"] = load_average()
    return Pipeline(full, processes, noops, change, latent_map, imports, loads)


# ---------------------------------------------------------------- the report


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (also readable as printed text)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(f"{c!s:<{w}}" for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *(line(r) for r in rows)])


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def epochs_section(e: Epochs) -> tuple[str, list[list[str]]]:
    """The epoch table and its target rows."""
    floor = e.best("floor")
    labels = {
        "floor": f"floor: VAE matmuls ({e.flops / 1e9:.0f} GFLOP at "
        f"{e.flops / floor / 1e9:.0f} GFLOP/s)",
        "ours_vae": "ours: latentlab.training.train, VAE",
        "ours_ae": "ours: latentlab.training.train, AE",
        "lab_vae": "lab notebook loop (torchvision + DataLoader), VAE",
    }
    rows = [
        [label, f"{e.best(k):.2f}", f"{e.best(k) / floor:.2f}",
         f"{e.timings[k].others:.0%}", " ".join(f"{r:.2f}" for r in e.timings[k].runs)]
        for k, label in labels.items()
    ]
    text = table(
        ["one epoch over 60,000 images", "best s", "x floor", "others' CPU in best", "all runs s"],
        rows,
    )
    # Targets use the median over repeats of ratios of neighbours in time (see measure_epochs),
    # over the undisturbed repeats only when there are any.
    clean = e.clean() if any(e.clean()) else [True] * len(e.clean())
    ratios = [r for r, ok in zip(e.ratios("ours_vae", "floor"), clean, strict=True) if ok]
    speedups = [r for r, ok in zip(e.ratios("lab_vae", "ours_vae"), clean, strict=True) if ok]
    ratio, speedup = statistics.median(ratios), statistics.median(speedups)
    which = f"median of {len(ratios)} undisturbed repeats" if any(e.clean()) else "median"
    targets = [
        [f"VAE epoch within {FLOOR_RATIO}x of the floor",
         f"{ratio:.2f}x ({which}: {' '.join(f'{r:.2f}' for r in ratios)})",
         verdict(ratio <= FLOOR_RATIO)],
        [f"at least {LAB_SPEEDUP}x faster than the lab's loop",
         f"{speedup:.2f}x ({which}: {' '.join(f'{r:.2f}' for r in speedups)})",
         verdict(speedup >= LAB_SPEEDUP)],
        ["same seed twice gives identical weights", "yes" if e.deterministic else "no",
         verdict(e.deterministic)],
    ]
    return text, targets


def stage_module(stage: Stage) -> str:
    """stages.<name> of a stage's command, e.g. 'train' for 'python -m stages.train vae 1'."""
    match = re.search(r"-m stages\.(\w+)", stage.command)
    return match.group(1) if match else "?"


def pipeline_section(p: Pipeline) -> tuple[str, list[list[str]]]:
    """The whole-process tables and their target rows."""
    rows, ratios, peaks = [], [], []
    for stage in p.full.stages:
        process = p.processes.get(stage.command)
        own = process.last_seen - process.started if process else float("nan")
        peak = process.peak_bytes if process else 0
        ratios.append(stage.seconds / own if process else float("inf"))
        peaks.append(peak)
        rows.append([stage.name, f"{stage.seconds:.1f}", f"{own:.1f}", f"{ratios[-1]:.2f}",
                     f"{peak / 2**20:.0f}"])
    total_own = sum(float(r[2]) for r in rows)
    rows.append(["**total**", f"{p.full.seconds:.1f}", f"{total_own:.1f}", "", ""])
    noop = min(r.seconds for r in p.noops)
    imports = table(
        ["stage module", "import seconds (best of 3, fresh interpreter)"],
        [[f"stages.{m}", f"{s:.2f}"] for m, s in p.imports.items()],
    )
    text = "\n\n".join([
        f"Full `dvc repro` from nothing: {p.full.seconds:.1f} s; other processes used "
        f"{p.full.others:.0%} of the cores meanwhile. A stage's time runs from DVC's "
        "\"Running stage\" line to the next; its own process time is how long its `python -m "
        "stages...` process lived (start-up, imports and work), as a /proc watcher saw it.",
        table(["stage", "seconds in dvc repro", "own process seconds", "ratio", "peak MiB"], rows),
        f"No-op `dvc repro`: {', '.join(f'{r.seconds:.2f}' for r in p.noops)} s "
        f"(stages run: {sum(len(r.stages) for r in p.noops)}; others' CPU share "
        f"{', '.join(f'{r.others:.0%}' for r in p.noops)}).",
        f"`latent_map.range` {p.change}: `dvc repro` {p.latent_map.seconds:.1f} s "
        f"(others' CPU share {p.latent_map.others:.0%}), {len(p.latent_map.stages)} stages: "
        + ", ".join(f"{s.name} {s.seconds:.1f} s" for s in p.latent_map.stages) + ".",
        imports,
        "Load averages (1, 5, 15 min): "
        + "; ".join(f"{k}: {v}" for k, v in p.loads.items()) + ".",
    ])
    slowest_import = max(p.imports.values())
    worst = max(ratios, default=0.0)
    worst_stage = p.full.stages[ratios.index(worst)].name if ratios else "-"
    targets = [
        [f"no-op dvc repro under {NOOP_S} s", f"{noop:.2f} s", verdict(noop < NOOP_S)],
        [f"latent_map change done under {LATENT_MAP_S:g} s", f"{p.latent_map.seconds:.1f} s",
         verdict(p.latent_map.seconds < LATENT_MAP_S)],
        [f"no stage over {IMPORT_S:g} s of start-up and imports",
         f"{slowest_import:.2f} s (stages.{max(p.imports, key=p.imports.__getitem__)})",
         verdict(slowest_import <= IMPORT_S)],
        [f"no stage above {PEAK_BYTES / GIB:g} GiB peak memory",
         f"{max(peaks, default=0) / GIB:.2f} GiB", verdict(max(peaks, default=0) <= PEAK_BYTES)],
        [f"each stage within {STAGE_RATIO}x of its own process time",
         f"{worst:.2f}x ({worst_stage})", verdict(worst <= STAGE_RATIO)],
    ]
    return text, targets


def main() -> None:
    """Run the benchmark, print the tables and PASS/FAIL per target, write RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="in-process epochs only; no dvc runs, nothing written unless --output")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats of the epochs")
    parser.add_argument("--output", type=Path, help=f"where to write the results ({RESULTS})")
    parser.add_argument("--max-wait", type=float, default=20.0,
                        help="seconds to wait for a quiet machine before each measure")
    args = parser.parse_args()
    # A SIGTERM then unwinds like Ctrl-C: DVC is stopped and the temporary copy removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.chdir(REPO)  # params.yaml and the stages are read from here
    info = machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)

    print(f"epochs ({args.repeats} interleaved repeats; load {load_average()}):", flush=True)
    with tempfile.TemporaryDirectory(prefix="latentlab-bench-data-") as tmp:
        root = Path(tmp)
        fashion_mnist.fetch(params.load().sources, root)
        epochs = measure_epochs(root, args.repeats, args.max_wait)
    epoch_text, targets = epochs_section(epochs)
    sections = [
        "## Epochs, in one process",
        epoch_text,
        f"Best of {args.repeats} interleaved repeats, torch on {torch.get_num_threads()} threads, "
        "every measure with the allocator setting of latentlab.training.keep_freed_memory (it "
        "also speeds up the lab's loop, by about 8% in a separate check); "
        "the targets below use the median over repeats of ratios of neighbouring measures, "
        f"leaving out repeats in which other processes took {QUIET:.0%} of the cores or more "
        f"(undisturbed repeats: {sum(epochs.clean())} of {args.repeats}). "
        f"Load averages at each repeat's start and at the end: {'; '.join(epochs.loads)}.",
    ]
    if not args.quick:
        print("whole processes:", flush=True)
        pipeline_text, pipeline_targets = pipeline_section(measure_pipeline(args.max_wait))
        sections += ["## Whole processes, in a fresh copy of the repository", pipeline_text]
        targets += pipeline_targets
    sections += ["## Targets", table(["target", "measured", "result"], targets)]
    body = "\n\n".join(sections)
    print("\n" + body)

    output = args.output or (None if args.quick else RESULTS)
    if output:
        header = [
            "# Benchmark results",
            "",
            "Written by `python -m benchmarks.bench` (its docstring says what is measured and "
            "how); rerun it to refresh. Other work on a machine only ever adds time, so each "
            "in-process timing is the best of its repeats, each measure first waits (up to "
            "--max-wait s) for a second in which other processes use under 10% of the cores, and "
            "the tables give the share of the cores that other processes used during the run "
            "(from /proc/stat) and the load averages. On 2 cores one busy process elsewhere can "
            "slow torch several times over: compare ratios within one run, not across runs.",
            "",
            table(["machine", ""], [[k, v] for k, v in info.items()]),
            "",
        ]
        output.write_text("\n".join(header) + "\n" + body + "\n")
        print(f"\nwritten to {output}")


if __name__ == "__main__":
    main()

"""The benchmark's tables, its targets with PASS/FAIL, and RESULTS.md with its History kept.

Everything from the `## History` heading to the end of RESULTS.md is written by hand and kept
verbatim whenever the file is rewritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmarks.epochs import Epochs
from benchmarks.pipeline import Pipeline, Run
from benchmarks.procwatch import QUIET

GIB = 1 << 30
MIB = 1 << 20

# The targets; the comment says which way each limit goes. Two limits where a CPU with native
# bf16 matmuls (AMX-BF16, AVX512-BF16) is held to the first, any other CPU to the second.
FLOOR_RATIO = (0.8, 1.3)  # our marginal VAE epoch per seed / the fp32 matmul floor, at most
NOOP_S = 2.5  # no-op dvc repro, under
LATENT_MAP_S = 15.0  # dvc repro after a latent_map.range change, under
QUICK_S = 60.0  # make quick, under
BASELINE_RATIO = (1.0, 1.4)  # full dvc repro / the baseline revision's, at most
IMPORT_S = 3.0  # any stage's start-up and imports, at most
PEAK_BYTES = 1.5 * GIB  # any stage's peak resident memory, at most
STAGE_RATIO = 1.5  # a stage's time under DVC / its own process's lifetime, at most

HISTORY = re.compile(r"^## History[ \t]*$", re.MULTILINE)
INTRO = (
    "Written by `python -m benchmarks.bench` (the docstrings of benchmarks/epochs.py and "
    "benchmarks/pipeline.py say what is measured and how); rerun it to refresh everything above "
    "the History section. Other work on a machine only ever adds time, so each in-process timing "
    "is the best of its repeats, each measure first waits (up to --max-wait s) for a second in "
    f"which other processes use under {QUIET:.0%} of the cores, and the tables give the share of "
    "the cores that other processes used meanwhile (from /proc/stat) and the load averages. On "
    "2 cores one busy process elsewhere can slow torch several times over: compare ratios within "
    "one run, not across runs."
)


def markdown(rows: list[list[object]], columns: list[str]) -> str:
    """A Markdown table of already formatted cells (kept as written, not parsed as numbers)."""
    return pd.DataFrame(rows, columns=columns).to_markdown(index=False, disable_numparse=True)


def seconds_list(values: list[float], digits: int = 2) -> str:
    """Numbers joined by spaces, e.g. '1.60 1.87'."""
    return " ".join(f"{v:.{digits}f}" for v in values)


# ---------------------------------------------------------------- targets


@dataclass
class Target:
    """One target: what it asks, what was measured, and whether it was met."""

    name: str
    measured: str
    ok: bool


@dataclass
class Summary:
    """The numbers the targets are judged on; None where that part was not measured."""

    floor_ratio: float
    floor_ratios: list[float]
    deterministic: bool
    native_bf16: bool = False
    noop_s: float | None = None
    latent_map_s: float | None = None
    quick_s: float | None = None
    quick_untouched: dict[str, bool] | None = None
    baseline_ratio: float | None = None
    slowest_import: tuple[str, float] | None = None  # (stage module, seconds)
    peak: tuple[str, int] | None = None  # (stage, bytes)
    worst_stage: tuple[str, float] | None = None  # (stage, seconds under DVC / own seconds)


def limit(limits: tuple[float, float], native_bf16: bool) -> float:
    """The limit that holds for the CPU: the first where it has native bf16 matmuls."""
    return limits[0] if native_bf16 else limits[1]


def targets(s: Summary) -> list[Target]:
    """Each target with PASS/FAIL, for the parts that were measured."""
    cpu = "native bf16" if s.native_bf16 else "no native bf16"
    floor_limit = limit(FLOOR_RATIO, s.native_bf16)
    out = [
        Target(
            f"VAE epoch per seed within {floor_limit}x of the fp32 floor ({cpu})",
            f"{s.floor_ratio:.2f}x (median of {seconds_list(s.floor_ratios)})",
            s.floor_ratio <= floor_limit,
        ),
        Target(
            "same seed twice gives identical weights",
            "yes" if s.deterministic else "no",
            s.deterministic,
        ),
    ]
    if s.noop_s is not None:
        out.append(
            Target(f"no-op dvc repro under {NOOP_S} s", f"{s.noop_s:.2f} s", s.noop_s < NOOP_S)
        )
    if s.latent_map_s is not None:
        out.append(
            Target(
                f"latent_map change done under {LATENT_MAP_S:g} s",
                f"{s.latent_map_s:.1f} s",
                s.latent_map_s < LATENT_MAP_S,
            )
        )
    if s.quick_s is not None:
        out.append(
            Target(f"quick loop under {QUICK_S:g} s", f"{s.quick_s:.1f} s", s.quick_s < QUICK_S)
        )
    if s.quick_untouched is not None:
        changed = [k for k, same in s.quick_untouched.items() if not same]
        out.append(
            Target(
                "quick loop leaves the workspace's dvc.lock and reports/ alone",
                f"changed: {', '.join(changed)}" if changed else "unchanged",
                not changed,
            )
        )
    if s.baseline_ratio is not None:
        base_limit = limit(BASELINE_RATIO, s.native_bf16)
        out.append(
            Target(
                f"full pipeline within {base_limit}x of the baseline ({cpu})",
                f"{s.baseline_ratio:.2f}x",
                s.baseline_ratio <= base_limit,
            )
        )

    if s.slowest_import is not None:
        module, seconds = s.slowest_import
        out.append(
            Target(
                f"no stage over {IMPORT_S:g} s of start-up and imports",
                f"{seconds:.2f} s (stages.{module})",
                seconds <= IMPORT_S,
            )
        )
    if s.peak is not None:
        stage, peak = s.peak
        out.append(
            Target(
                f"no stage above {PEAK_BYTES / GIB:g} GiB peak memory",
                f"{peak / GIB:.2f} GiB ({stage})",
                peak <= PEAK_BYTES,
            )
        )
    if s.worst_stage is not None:
        stage, ratio = s.worst_stage
        out.append(
            Target(
                f"each stage within {STAGE_RATIO}x of its own process time",
                f"{ratio:.2f}x ({stage})",
                ratio <= STAGE_RATIO,
            )
        )
    return out


def targets_table(rows: list[Target]) -> str:
    """The targets as a Markdown table with PASS/FAIL."""
    return markdown(
        [[t.name, t.measured, "PASS" if t.ok else "FAIL"] for t in rows],
        ["target", "measured", "result"],
    )


def stage_rows(p: Pipeline) -> list[tuple[str, float, float, int]]:
    """Per stage of the full repro: name, seconds under DVC, own process seconds, peak bytes.

    A stage the watcher missed gets NaN seconds and no peak (and fails the ratio target).
    """
    rows = []
    for stage in p.full.stages:
        process = p.processes.get(stage.command)
        own = process.seconds if process else float("nan")
        rows.append((stage.name, stage.seconds, own, process.peak_bytes if process else 0))
    return rows


def summarize(e: Epochs, p: Pipeline | None) -> Summary:
    """The numbers of the targets, from the measures."""
    ratios = e.ratios("ours_vae", "floor")
    s = Summary(e.median_ratio("ours_vae", "floor"), ratios, e.deterministic, e.native_bf16)
    if p is None:
        return s
    s.noop_s = min(r.seconds for r in p.noops)
    s.latent_map_s = p.latent_map.seconds
    s.quick_s = p.quick.run.seconds
    s.quick_untouched = p.quick.untouched
    if p.baseline is not None:
        s.baseline_ratio = p.full.seconds / p.baseline.seconds
    s.slowest_import = max(p.imports.items(), key=lambda kv: kv[1])
    rows = stage_rows(p)
    if rows:
        name, _, _, peak = max(rows, key=lambda r: r[3])
        s.peak = (name, peak)
        # A stage the watcher missed (NaN own seconds) must fail: it counts as infinitely slow.
        ratios = {name: dvc / own if own > 0 else float("inf") for name, dvc, own, _ in rows}
        s.worst_stage = max(ratios.items(), key=lambda kv: kv[1])
    return s


# ---------------------------------------------------------------- tables


def machine_table(info: dict[str, str]) -> str:
    """What the numbers were taken on."""
    return markdown([[k, v] for k, v in info.items()], ["machine", ""])


def epochs_section(e: Epochs, repeats: int) -> str:
    """The epochs table and how to read it."""
    floor, ours = e.timings["floor"].best, e.timings["ours_vae"].best

    def rate(name: str) -> str:
        return f"{e.flops / 1e9:.0f} GFLOP at {e.flops / e.timings[name].best / 1e9:.0f} GFLOP/s"

    together = f"{e.seeds} seeds together, marginal epoch per seed"
    labels = {
        "floor": f"floor: VAE matmuls in fp32 ({rate('floor')})",
        "floor_bf16": f"floor: VAE matmuls in bf16 ({rate('floor_bf16')})",
        "ours_vae": f"ours: latentlab.training.train, VAE ({together})",
        "ours_ae": f"ours: latentlab.training.train, AE ({together})",
        "lab_vae": "lab notebook loop (torchvision + DataLoader), VAE, fp32",
    }
    rows = [
        [
            label,
            f"{t.best:.2f}",
            f"{t.best / floor:.2f}",
            f"{t.best / ours:.2f}",
            f"{t.best_others:.0%}",
            seconds_list(t.runs),
        ]
        for k, label in labels.items()
        for t in [e.timings[k]]
    ]
    table = markdown(
        rows,
        [
            f"one epoch over {e.images:,} images",
            "best s",
            "x fp32 floor",
            "x ours VAE",
            "others' CPU in best",
            "all runs s",
        ],
    )
    clean = sum(e.clean())
    lab = e.ratios("lab_vae", "ours_vae")
    return "\n\n".join(
        [
            table,
            f"Best of {repeats} interleaved repeats, torch on {e.threads} threads, "
            "every measure with the allocator setting of latentlab.nn.runtime.keep_freed_memory; "
            "ours in the default precision (the machine table says which). The lab's loop took "
            f"the median of {e.median_ratio('lab_vae', 'ours_vae'):.2f}x our VAE epoch per seed "
            f"(paired repeats: {seconds_list(lab)}); for information, not a target. The targets "
            "use the median over repeats of ratios of neighbouring measures, leaving out repeats "
            f"in which other processes took {QUIET:.0%} of the cores or more (undisturbed: "
            f"{clean} of {repeats}). Load averages at each repeat's start and at the end: "
            f"{'; '.join(e.loads)}.",
        ]
    )


def runs_table(runs: list[Run], label: str) -> str:
    """One row per run: seconds, stages run, others' CPU share."""
    return markdown(
        [
            [f"{label} {i}", f"{r.seconds:.2f}", str(len(r.stages)), f"{r.others:.0%}"]
            for i, r in enumerate(runs, 1)
        ],
        ["run", "seconds", "stages run", "others' CPU"],
    )


def by_kind(run: Run) -> dict[str, tuple[int, float]]:
    """Stages and seconds per kind of stage (train, evaluate, ...), in the order they first ran."""
    kinds: dict[str, tuple[int, float]] = {}
    for stage in run.stages:
        count, seconds = kinds.get(stage.kind, (0, 0.0))
        kinds[stage.kind] = (count + 1, seconds + stage.seconds)
    return kinds


def baseline_section(p: Pipeline) -> str:
    """The full repro of the baseline revision against ours, per kind of stage and in total."""
    assert p.baseline is not None
    ours, base = by_kind(p.full), by_kind(p.baseline)
    rows = []
    for kind in dict.fromkeys([*base, *ours]):
        b, o = base.get(kind, (0, 0.0)), ours.get(kind, (0, 0.0))
        rows.append([kind, str(b[0]), f"{b[1]:.1f}", str(o[0]), f"{o[1]:.1f}"])
    ratio = p.full.seconds / p.baseline.seconds
    rows.append(
        [
            "**total**",
            str(len(p.baseline.stages)),
            f"{p.baseline.seconds:.1f}",
            str(len(p.full.stages)),
            f"{p.full.seconds:.1f}",
        ]
    )
    return "\n\n".join(
        [
            f"Baseline: the full `dvc repro` from nothing at git revision "
            f"`{p.baseline_rev[:7]}` (its own dvc.yaml and params.yaml), run right after ours: "
            f"{p.baseline.seconds:.1f} s against our {p.full.seconds:.1f} s, a ratio of "
            f"**{ratio:.2f}x** (others' CPU share "
            f"{p.baseline.others:.0%} and {p.full.others:.0%}).",
            markdown(
                rows,
                ["kind of stage", "baseline stages", "baseline s", "current stages", "current s"],
            ),
        ]
    )


def pipeline_section(p: Pipeline) -> str:
    """The whole-process tables."""
    rows = [
        [
            name,
            f"{dvc:.1f}",
            f"{own:.1f}",
            f"{dvc / own:.2f}" if own > 0 else "-",
            f"{peak / MIB:.0f}",
        ]
        for name, dvc, own, peak in stage_rows(p)
    ]
    rows.append(
        ["**total**", f"{p.full.seconds:.1f}", f"{sum(r[2] for r in stage_rows(p)):.1f}", "", ""]
    )
    stages = markdown(
        rows, ["stage", "seconds in dvc repro", "own process seconds", "ratio", "peak MiB"]
    )
    latent = markdown(
        [[s.name, f"{s.seconds:.1f}"] for s in p.latent_map.stages]
        + [["**total** (dvc repro)", f"{p.latent_map.seconds:.1f}"]],
        ["stage rerun", "seconds"],
    )
    q = p.quick
    quick = markdown(
        [
            [
                f"{q.run.seconds:.1f}",
                str(len(q.run.stages)),
                f"{q.run.others:.0%}",
                *("unchanged" if same else "CHANGED" for same in q.untouched.values()),
            ]
        ],
        ["seconds", "stages run", "others' CPU", *(f"workspace {k}" for k in q.untouched)],
    )
    imports = markdown(
        [[f"stages.{m}", f"{s:.2f}"] for m, s in p.imports.items()],
        ["stage module", "import seconds (best of fresh interpreters)"],
    )
    if p.adam_startup is not None:
        seconds, count = p.adam_startup
        imports += (
            f"\n\nBuilding a torch.optim.Adam (it imports torch._dynamo) takes {seconds:.2f} s "
            f"more than importing torch alone: {seconds * count:.1f} s over the {count} stages "
            f"of the full repro that train, {seconds * count / p.full.seconds:.1%} of it, which "
            "the functional torch.optim.adam.adam that latentlab/nn/runtime.py calls avoids."
        )
    parts = [
        f"### Full `dvc repro` from nothing: {p.full.seconds:.1f} s",
        f"Other processes used {p.full.others:.0%} of the cores meanwhile. A stage's time runs "
        'from DVC\'s "Running stage" line to the next; its own process time is how long its '
        "`python -m stages...` process lived (start-up, imports and work), and its peak the "
        "kernel's high-water mark of its resident memory, as a /proc watcher saw them.",
        stages,
        "### No-op `dvc repro`",
        runs_table(p.noops, "no-op"),
        f"### `latent_map.range` {p.change}, then `dvc repro`",
        latent,
        "### The quick loop: `make quick`",
        "An experiment on the Makefile's small configuration in a scratch clone of the copy, after "
        "its runs were committed; the workspace's results are compared by their SHA-256 before "
        "and after.",
        quick,
        "### Start-up and imports",
        imports,
    ]
    if p.baseline is not None:
        parts += ["### Against the baseline", baseline_section(p)]
    parts.append(
        "Load averages (1, 5, 15 min): " + "; ".join(f"{k}: {v}" for k, v in p.loads.items()) + "."
    )
    return "\n\n".join(parts)


def report(info: dict[str, str], e: Epochs, repeats: int, p: Pipeline | None) -> str:
    """The whole of RESULTS.md above its History section."""
    parts = [
        "# Benchmark results",
        INTRO,
        machine_table(info),
        "## Epochs, in one process",
        epochs_section(e, repeats),
    ]
    if p is not None:
        parts += ["## Whole processes, in a fresh copy of the repository", pipeline_section(p)]
    parts += ["## Targets", targets_table(targets(summarize(e, p)))]
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------- the file


def history(text: str) -> str:
    """Everything from the `## History` heading to the end of `text`; '' if it has none."""
    match = HISTORY.search(text)
    return text[match.start() :] if match else ""


def write(path: Path, body: str, history_from: Path | None = None) -> None:
    """Write `body` to `path`, followed by the History section of `history_from` (default: the
    file being replaced), verbatim."""
    source = history_from or path
    kept = history(source.read_text()) if source.is_file() else ""
    path.write_text(body.rstrip("\n") + "\n\n" + kept if kept else body)

"""Every figure of the report, drawn from the tracked artifacts of the compared models' runs
(maps, codes, strips, training logs): no model is loaded here."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from latentlab.analysis.latent_grid import grid_codes, mosaic, tiles_holding, to_uint8
from latentlab.core import paths
from latentlab.core.artifacts import atomic_path, load_arrays, read_json
from latentlab.core.errors import UserError
from latentlab.core.fashion_mnist import CLASSES
from latentlab.core.params import Params
from latentlab.report import data_map, figures, mechanisms, plots, results
from latentlab.report.factorial import Cells

MAP_ARRAYS = ("lab_z", "lab_tiles", "own_z", "own_tiles", "prior_images")
CODE_ARRAYS = ("codes", "labels", "examples", "reconstructions", "example_index")
STRIP_ARRAYS = ("images", "start", "end", "start_code", "end_code")


def _copy(src: Path, dest: Path, stage: str) -> None:
    """A byte-for-byte copy of a file a stage wrote, written atomically."""
    if not src.is_file():
        raise UserError(f"{src} is missing; rerun `dvc repro {stage}`")
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def _image(path: Path, stage: str) -> np.ndarray:
    """An image a stage wrote, or a UserError saying which stage to rerun."""
    try:
        with Image.open(path) as image:
            return np.asarray(image)
    # FileNotFoundError and PIL's UnidentifiedImageError are OSErrors; PIL refuses an image of
    # more than twice its MAX_IMAGE_PIXELS (a 20000 x 20000 PNG) before decoding it.
    except (OSError, Image.DecompressionBombError):
        raise UserError(f"{path} is missing or unreadable; rerun `dvc repro {stage}`") from None


def _curves(p: Params) -> dict[str, dict[int, list[dict[str, float]]]]:
    """Each compared model's per-epoch loss terms by seed, from its DVCLive log."""
    curves: dict[str, dict[int, list[dict[str, float]]]] = {}
    for m in p.compared:
        by_seed: dict[int, dict[int, dict[str, float]]] = {}
        for file in sorted((paths.train_dir(m.name) / "plots" / "custom").glob("*.json")):
            rows = read_json(file)
            for i, row in enumerate(rows if isinstance(rows, list) else []):
                row = row if isinstance(row, dict) else {}
                seed, epoch, value = (
                    results.finite_number(row.get(key), file, f"[{i}].{key}")
                    for key in ("seed", "epoch", file.stem)
                )
                frame = by_seed.setdefault(int(seed), {})
                frame.setdefault(int(epoch), {"epoch": int(epoch)})[file.stem] = value
        if sorted(by_seed) != sorted(p.seeds):
            raise UserError(
                f"{paths.train_dir(m.name)} holds curves of seeds {sorted(by_seed)}, "
                f"not {p.seeds}; rerun `dvc repro train@{m.name}`"
            )
        curves[m.name] = {s: [rows[e] for e in sorted(rows)] for s, rows in by_seed.items()}
    return curves


def _first_seed(name: str, seed: int) -> dict[str, np.ndarray]:
    """The arrays of one model's seed that the figures draw: its maps (lab_z, lab_tiles, own_z,
    own_tiles, prior_images), its test codes (codes, labels, examples, reconstructions,
    example_index) and its first paths (images, start, end, start_code, end_code)."""
    files = {
        paths.map_file(name, seed, ".npz"): MAP_ARRAYS,
        paths.codes(name, seed): CODE_ARRAYS,
        paths.path_strips(name, seed): STRIP_ARRAYS,
    }
    return {
        key: array
        for file, keys in files.items()
        for key, array in zip(keys, load_arrays(file, *keys), strict=True)
    }


def _per_model(p: Params, out: Callable[[str], Path]) -> dict[str, dict]:
    """Each compared model's first seed, read once: its map copied pixel for pixel, its map
    beside its test codes drawn, and the arrays the other figures need, by model."""
    first, dpi = p.seeds[0], p.report.figure_dpi
    read: dict[str, dict] = {}
    for m in p.compared:
        name = m.name
        run = _first_seed(name, first)
        z, codes = run["lab_z"], run["codes"]
        _copy(paths.map_file(name, first, ".png"), out(f"map_{name}"), f"render@{name}")
        lab = (to_uint8(mosaic(run["lab_tiles"])), z)
        lines = np.stack([run["start_code"], run["end_code"]], axis=1)
        data_map.map_with_data(
            *lab,
            tiles_holding(codes, z),
            lines,
            codes,
            run["labels"],
            f"{name} (seed {first})",
            dpi,
        ).save(out(f"data_{name}"))
        read[name] = {
            "run": run,
            "lab": lab,
            "own": (to_uint8(mosaic(run["own_tiles"])), run["own_z"]),
            "frames": [
                (epoch, _image(paths.progress_image(name, first, epoch), f"train@{name}"))
                for epoch in figures.pick_epochs(m.epochs)
            ],
        }
    return read


def draw(p: Params, cells: Cells | None = None) -> list[str]:
    """Draw every figure into reports/figures, remove any other file there (a figure of a model
    no longer compared), and return the figures' file names; with the mechanisms' design
    `cells`, its four lab maps 2 x 2 too."""
    first, dpi = p.seeds[0], p.report.figure_dpi
    written: list[str] = []
    tiles_per_class = results.tiles_per_class(p)  # read first: a bad file stops before any drawing

    def out(name: str) -> Path:
        written.append(f"{name}.png")
        return paths.figure(name)

    read = _per_model(p, out)
    lab_maps = {name: r["lab"] for name, r in read.items()}
    figures.maps(lab_maps, dpi).save(out("maps"))
    if cells is not None:
        panels = {title: lab_maps[m] for m, title in mechanisms.cell_maps(cells)}
        figures.maps(panels, dpi, columns=2).save(out("cells"))
    squares = {
        f"{name}: {square}": r[key]
        for name, r in read.items()
        for key, square in (("lab", "lab's square"), ("own", "own codes' square"))
    }
    figures.maps(squares, dpi, columns=2).save(out("own_squares"))
    # The paths' ends and the examples are test images that every model's runs share.
    run = read[p.compared[-1].name]["run"]
    strips = {name: r["run"]["images"] for name, r in read.items()}
    figures.interpolations(strips, run["start"], run["end"], dpi).save(out("interpolations"))
    # One test image per class present (all ten unless data.limit is tiny).
    classes = [CLASSES[c] for c in run["labels"][run["example_index"]]]
    recon = {name: r["run"]["reconstructions"] for name, r in read.items()}
    figures.reconstructions(run["examples"], recon, classes, dpi).save(out("reconstructions"))
    samples = {name: r["run"]["prior_images"] for name, r in read.items()}
    figures.prior_samples(samples, dpi).save(out("prior_samples"))
    progress = grid_codes(p.progress_map.grid, p.progress_map.range)
    frames = {name: r["frames"] for name, r in read.items()}
    figures.evolution(frames, progress, first, dpi).save(out("evolution"))
    plots.training_curves(_curves(p), out("training_curves"), dpi)
    plots.tile_histograms(tiles_per_class, out("tile_classes"), dpi)
    _remove_all_but(written)
    return written


def _remove_all_but(kept: list[str]) -> None:
    """Remove every file and folder of reports/figures not named in `kept`: the folder is the
    report stage's output, so nothing else stays (a figure of a model no longer compared)."""
    for stale in paths.FIGURES.glob("*"):
        if stale.name in kept:
            continue
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink()

"""Every figure of the report, drawn from the tracked artifacts of the compared models' runs
(maps, codes, strips, training logs): no model is loaded here."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from latentlab.analysis.latent_grid import mosaic, tiles_holding, to_uint8
from latentlab.core import paths
from latentlab.core.artifacts import atomic_path, load_arrays, read_json
from latentlab.core.errors import UserError
from latentlab.core.fashion_mnist import CLASSES
from latentlab.core.params import Params
from latentlab.report import figures, plots, results

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


def draw(p: Params) -> list[str]:
    """Draw every figure into reports/figures, remove any other file there (a figure of a model
    no longer compared), and return the figures' file names."""
    first, dpi = p.seeds[0], p.report.figure_dpi
    written: list[str] = []
    tiles_per_class = results.tiles_per_class(p)  # read first: a bad file stops before any drawing

    def out(name: str) -> Path:
        written.append(f"{name}.png")
        return paths.figure(name)

    lab_maps, both_squares, strips, recon, samples, frames = {}, {}, {}, {}, {}, {}
    run: dict[str, np.ndarray] = {}
    example_classes: list[str] = []
    for m in p.compared:
        name = m.name
        run = _first_seed(name, first)
        z, codes, labels = run["lab_z"], run["codes"], run["labels"]
        # The seed's map as the render stage wrote it, pixel for pixel.
        _copy(paths.map_file(name, first, ".png"), out(f"map_{name}"), f"render@{name}")
        lab_maps[name] = (to_uint8(mosaic(run["lab_tiles"])), z)
        both_squares[f"{name}: lab's square"] = lab_maps[name]
        both_squares[f"{name}: own codes' square"] = (
            to_uint8(mosaic(run["own_tiles"])),
            run["own_z"],
        )
        lines = np.stack([run["start_code"], run["end_code"]], axis=1)
        figures.map_with_data(
            lab_maps[name][0],
            z,
            tiles_holding(codes, z),
            lines,
            codes,
            labels,
            f"{name} (seed {first})",
            dpi,
        ).save(out(f"data_{name}"))
        strips[name], recon[name] = run["images"], run["reconstructions"]
        samples[name] = run["prior_images"]
        frames[name] = [
            (epoch, _image(paths.progress_image(name, first, epoch), f"train@{name}"))
            for epoch in figures.pick_epochs(m.epochs)
        ]
        # One test image per class present (all ten unless data.limit is tiny).
        example_classes = [CLASSES[c] for c in labels[run["example_index"]]]
    figures.maps(lab_maps, dpi).save(out("maps"))
    figures.maps(both_squares, dpi, columns=2).save(out("own_squares"))
    # The paths' ends and the examples are test images that every model's runs share.
    starts, ends, originals = run["start"], run["end"], run["examples"]
    figures.interpolations(strips, starts, ends, dpi).save(out("interpolations"))
    figures.reconstructions(originals, recon, example_classes, dpi).save(out("reconstructions"))
    figures.prior_samples(samples, dpi).save(out("prior_samples"))
    figures.evolution(frames, dpi).save(out("evolution"))
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

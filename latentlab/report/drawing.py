"""Every figure of the report, drawn from the tracked artifacts of the compared models' runs
(maps, codes, strips, training logs): no model is loaded here."""

from __future__ import annotations

import shutil

import numpy as np
from PIL import Image

from latentlab.analysis.latent_grid import mosaic, tiles_holding, to_uint8
from latentlab.core import paths
from latentlab.core.artifacts import atomic_path, load_arrays, read_json
from latentlab.core.errors import UserError
from latentlab.core.fashion_mnist import CLASSES
from latentlab.core.params import Params
from latentlab.report import figures


def _copy(src: object, dest: object) -> None:
    """A byte-for-byte copy, written atomically."""
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def _curves(p: Params) -> dict[str, dict[int, list[dict[str, float]]]]:
    """Each compared model's per-epoch loss terms by seed, from its DVCLive log."""
    curves: dict[str, dict[int, list[dict[str, float]]]] = {}
    for m in p.compared:
        by_seed: dict[int, dict[int, dict[str, float]]] = {}
        for file in sorted((paths.train_dir(m.name) / "plots" / "custom").glob("*.json")):
            for row in read_json(file) if isinstance(read_json(file), list) else []:
                by_seed.setdefault(int(row["seed"]), {}).setdefault(
                    int(row["epoch"]), {"epoch": row["epoch"]}
                )[file.stem] = row[file.stem]
        if sorted(by_seed) != sorted(p.seeds):
            raise UserError(
                f"{paths.train_dir(m.name)} holds curves of seeds {sorted(by_seed)}, "
                f"not {p.seeds}; rerun `dvc repro train@{m.name}`"
            )
        curves[m.name] = {s: [rows[e] for e in sorted(rows)] for s, rows in by_seed.items()}
    return curves


def draw(p: Params, tiles_per_class: dict[str, list[float]]) -> list[str]:
    """Draw every figure into reports/figures; return their file names."""
    first, dpi = p.seeds[0], p.report.figure_dpi
    written: list[str] = []

    def out(name: str) -> object:
        written.append(f"{name}.png")
        return paths.figure(name)

    lab_maps, both_squares, strips, recon, samples, frames = {}, {}, {}, {}, {}, {}
    starts = ends = originals = None
    for m in p.compared:
        name = m.name
        z, tiles, own_z, own_tiles, prior = load_arrays(
            paths.map_file(name, first, ".npz"),
            "lab_z",
            "lab_tiles",
            "own_z",
            "own_tiles",
            "prior_images",
        )
        codes, labels, originals, reconstructions = load_arrays(
            paths.codes(name, first), "codes", "labels", "examples", "reconstructions"
        )
        images, starts, ends, start_code, end_code = load_arrays(
            paths.path_strips(name, first), "images", "start", "end", "start_code", "end_code"
        )
        # The seed's map as the render stage wrote it, pixel for pixel.
        _copy(paths.map_file(name, first, ".png"), out(f"map_{name}"))
        lab_maps[name] = (to_uint8(mosaic(tiles)), z)
        both_squares[f"{name}: lab's square"] = lab_maps[name]
        both_squares[f"{name}: own codes' square"] = (to_uint8(mosaic(own_tiles)), own_z)
        lines = np.stack([start_code, end_code], axis=1)
        figures.map_with_data(
            lab_maps[name][0],
            z,
            tiles_holding(codes, z),
            lines,
            codes,
            labels,
            f"{name} (seed {first})",
            out(f"data_{name}"),
            dpi,
        )
        strips[name], recon[name], samples[name] = images, reconstructions, prior
        frames[name] = [
            (epoch, np.asarray(Image.open(paths.progress_image(name, first, epoch))))
            for epoch in figures.pick_epochs(m.epochs)
        ]
    figures.maps(lab_maps, out("maps"), dpi)
    figures.maps(both_squares, out("own_squares"), dpi, columns=2)
    figures.interpolations(strips, starts, ends, out("interpolations"), dpi)
    figures.reconstructions(originals, recon, list(CLASSES), out("reconstructions"), dpi)
    figures.prior_samples(samples, out("prior_samples"), dpi)
    figures.evolution(frames, out("evolution"), dpi)
    figures.training_curves(_curves(p), out("training_curves"), dpi)
    figures.tile_histograms(tiles_per_class, out("tile_classes"), dpi)
    return written

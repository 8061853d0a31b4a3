"""Fashion-MNIST: where the four files come from, how they are verified, and how they are read."""

from __future__ import annotations

import gzip
import hashlib
import logging
import math
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentlab.artifacts import NEW_FILE_MODE
from latentlab.errors import UserError

log = logging.getLogger(__name__)

CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
IMAGE_SIDE = 28
TORCHVISION_SOURCE = "torchvision"


@dataclass(frozen=True)
class RawFile:
    """One of the four original files, by its decompressed size and MD5 (DESIGN.md section 2)."""

    name: str
    size: int
    md5: str


FILES = (
    RawFile("train-images-idx3-ubyte", 47040016, "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
    RawFile("train-labels-idx1-ubyte", 60008, "9018921c3c673c538a1fc5bad174d6f9"),
    RawFile("t10k-images-idx3-ubyte", 7840016, "8181f5470baa50b63fa0f6fddb340f0a"),
    RawFile("t10k-labels-idx1-ubyte", 10008, "15d484375f8d13e6eb1aabb0c3f46965"),
)
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def raw_dir(root: Path) -> Path:
    """The folder below `root` where torchvision.datasets.FashionMNIST(root) looks for the files."""
    return Path(root) / "FashionMNIST" / "raw"


def file_matches(path: Path, expected: RawFile) -> bool:
    """Whether the decompressed file at `path` has the expected size and MD5."""
    if not path.is_file() or path.stat().st_size != expected.size:
        return False
    digest = hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == expected.md5


def _decompress_verified(candidates: list[Path], expected: RawFile, dest: Path) -> bool:
    """Copy the first candidate (gzip or plain) that verifies to `dest`; False if none does."""
    for src in candidates:
        if not src.is_file():
            continue
        with tempfile.NamedTemporaryFile(
            dir=dest.parent, prefix=f".{dest.name}.", delete=False
        ) as tmp:
            tmp_path = Path(tmp.name)
            try:
                opener = gzip.open if src.suffix == ".gz" else open
                with opener(src, "rb") as f:
                    shutil.copyfileobj(f, tmp)
            except (OSError, EOFError, zlib.error) as err:  # zlib.error: corrupt deflate data
                log.warning("%s is unreadable (%s); skipping it", src, err)
        if file_matches(tmp_path, expected):
            os.chmod(tmp_path, NEW_FILE_MODE)  # the temporary file was made private (0600)
            tmp_path.replace(dest)
            return True
        log.warning(
            "%s does not match the published checksum of %s; skipping it", src, expected.name
        )
        tmp_path.unlink(missing_ok=True)
    return False


def _fetch_from_directory(source: Path, dest_dir: Path) -> bool:
    """Take the four files (.gz or plain) from a folder; False unless all of them verify."""
    fetched = [
        _decompress_verified([source / f"{f.name}.gz", source / f.name], f, dest_dir / f.name)
        for f in FILES
    ]
    return all(fetched)


def _fetch_with_torchvision(dest_dir: Path) -> bool:
    """Fall back on torchvision's download (needs a network); False if it fails or won't verify."""
    try:
        from torchvision.datasets import FashionMNIST  # costs ~1.5 s, so only on this path
    except (ImportError, RuntimeError) as err:  # RuntimeError: built for another torch
        log.warning("torchvision cannot be imported (%s); skipping it", err)
        return False

    with tempfile.TemporaryDirectory(dir=dest_dir.parent) as tmp:
        try:
            FashionMNIST(tmp, train=True, download=True)
            FashionMNIST(tmp, train=False, download=True)
        except Exception as err:
            log.warning("torchvision download failed: %s", err)
            return False
        return _fetch_from_directory(raw_dir(Path(tmp)), dest_dir)


def fetch(sources: list[str], root: Path) -> str:
    """Put the four verified files in raw_dir(root), trying `sources` in turn; return the winner."""
    dest_dir = raw_dir(root)
    dest_dir.mkdir(parents=True, exist_ok=True)
    for source in sources:
        log.info("trying Fashion-MNIST source %s", source)
        if source == TORCHVISION_SOURCE:
            ok = _fetch_with_torchvision(dest_dir)
        else:
            ok = _fetch_from_directory(Path(source), dest_dir)
        if ok:
            return source
    for f in FILES:
        (dest_dir / f.name).unlink(missing_ok=True)
    raise UserError(
        f"no source gave all four Fashion-MNIST files with the published checksums (tried "
        f"{', '.join(sources)}); install them with `apt-get install dataset-fashion-mnist` or put "
        f"the four files in a folder and add it to data.sources in params.yaml"
    )


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Read an IDX file (big-endian header, then unsigned bytes) as a uint8 array."""
    data = np.fromfile(path, dtype=np.uint8)
    header = data[:4].view(">u4")[0] if data.size >= 4 else None
    if header != magic:
        raise UserError(f"{path} is not an IDX file of the expected kind; rerun the download stage")
    ndim = magic & 0xFF
    if data.size < 4 + 4 * ndim:
        raise UserError(f"{path} is truncated or corrupt; rerun the download stage")
    shape = tuple(int(n) for n in data[4 : 4 + 4 * ndim].view(">u4"))
    body = data[4 + 4 * ndim :]
    if body.size != math.prod(shape):
        raise UserError(f"{path} is truncated or corrupt; rerun the download stage")
    return body.reshape(shape)


def load_split(root: Path, split: str, limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 N x 28 x 28 images, int64 labels of `split` (train, test); first `limit` if > 0."""
    images_name, labels_name = SPLIT_FILES[split]
    folder = raw_dir(root)
    for name in (images_name, labels_name):
        if not (folder / name).is_file():
            raise UserError(f"{folder / name} is missing; run `dvc repro download` first")
    images = _read_idx(folder / images_name, 0x00000803)
    labels = _read_idx(folder / labels_name, 0x00000801).astype(np.int64)
    if limit > 0:
        images, labels = images[:limit], labels[:limit]
    return images, labels

"""Fashion-MNIST as the stages read it: the classes, the four files' checksums, the IDX reader.

Where the files come from is the download stage's business (latentlab/download.py); every stage
that reads them checks them against the published MD5 here, once per process, so a file changed
in place is refused even when DVC runs a single stage.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentlab.core.errors import UserError

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
SPLIT_SIZES = {"train": 60000, "test": 10000}


@dataclass(frozen=True)
class RawFile:
    """One of the four original files, by its decompressed size and MD5 as published."""

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


_verified: set[tuple[str, int, int]] = set()  # (path, size, mtime_ns) checked in this process


def _read_verified(path: Path, expected: RawFile) -> np.ndarray:
    """The bytes of one of the four files, refused unless they match the published MD5."""
    if not path.is_file():
        raise UserError(f"{path} is missing; run `dvc repro download` first")
    data = np.fromfile(path, dtype=np.uint8)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        if data.size != expected.size or hashlib.md5(data).hexdigest() != expected.md5:
            raise UserError(
                f"{path} does not match the published MD5 of {expected.name} (changed or "
                f"damaged); restore it with `dvc checkout --force {path.parents[1]}` or rerun "
                f"`dvc repro --force download`"
            )
        _verified.add(key)
    return data


def _parse_idx(data: np.ndarray, magic: int, path: Path) -> np.ndarray:
    """An IDX file's body (big-endian header, then unsigned bytes) as a uint8 array."""
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
    """uint8 N x 28 x 28 images, int64 labels of `split` (train, test); first `limit` if > 0.

    Both files are checked against their published MD5 first (once per process).
    """
    folder = raw_dir(root)
    by_name = {f.name: f for f in FILES}
    images_name, labels_name = SPLIT_FILES[split]
    images_data = _read_verified(folder / images_name, by_name[images_name])
    labels_data = _read_verified(folder / labels_name, by_name[labels_name])
    images = _parse_idx(images_data, 0x00000803, folder / images_name)
    labels = _parse_idx(labels_data, 0x00000801, folder / labels_name).astype(np.int64)
    if limit > 0:
        images, labels = images[:limit], labels[:limit]
    return images, labels

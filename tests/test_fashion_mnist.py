"""Issue "bad data": fetching verifies every file, skips a bad source, and says how to get the data.

The bad files are built from the real ones. Most cases damage a label file and restrict the set
of files to the two label files (real sizes and checksums), so that each case costs milliseconds;
test_full_fetch_* run the same rules over all four files.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from latentlab import fashion_mnist
from latentlab.errors import UserError
from latentlab.fashion_mnist import FILES, raw_dir

TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
LABEL_FILES = tuple(f for f in FILES if f.name in (TRAIN_LABELS, TEST_LABELS))


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def everything_in(folder: Path) -> list[str]:
    """Every entry of a folder, hidden (temporary) files included."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def make_source(folder: Path, files: dict[str, bytes | Path]) -> Path:
    """A source folder: bytes are written, a Path is linked to."""
    folder.mkdir(parents=True)
    for name, content in files.items():
        if isinstance(content, Path):
            (folder / name).symlink_to(content)
        else:
            (folder / name).write_bytes(content)
    return folder


def first_position(data: bytes, error: type[BaseException]) -> int:
    """The first byte whose flip makes gzip fail with exactly `error` (deterministic per file)."""
    for pos in range(20, len(data) - 8):
        damaged = bytearray(data)
        damaged[pos] ^= 0xFF
        try:
            gzip.decompress(bytes(damaged))
        except Exception as err:  # looking for one kind among several
            if type(err) is error:
                return pos
    raise AssertionError(f"no single-byte flip gives {error.__name__}")


def flipped(data: bytes, pos: int) -> bytes:
    damaged = bytearray(data)
    damaged[pos] ^= 0x01
    return bytes(damaged)


@pytest.fixture
def labels_only(monkeypatch):
    """Restrict the dataset to its two label files (real names, sizes and checksums)."""
    monkeypatch.setattr(fashion_mnist, "FILES", LABEL_FILES)


@pytest.fixture
def good_labels(tmp_path, dataset_dir) -> Path:
    """A good source folder holding the two real label .gz files."""
    return make_source(
        tmp_path / "good",
        {f"{n}.gz": dataset_dir / f"{n}.gz" for n in (TRAIN_LABELS, TEST_LABELS)},
    )


def _bad_train_labels(kind: str, raw: dict[str, bytes], dataset_dir: Path) -> tuple[str, bytes]:
    """(file name, content) of a damaged train-labels file of the given kind."""
    plain = raw[TRAIN_LABELS]
    gz = (dataset_dir / f"{TRAIN_LABELS}.gz").read_bytes()
    if kind == "truncated":
        return TRAIN_LABELS, plain[:-100]
    if kind == "one-flipped-byte":
        return TRAIN_LABELS, flipped(plain, len(plain) // 2)
    if kind == "flipped-byte-gzipped":  # a valid gzip whose contents are wrong
        return f"{TRAIN_LABELS}.gz", gzip.compress(flipped(plain, 1000), mtime=0)
    if kind == "test-labels-renamed":
        return f"{TRAIN_LABELS}.gz", (dataset_dir / f"{TEST_LABELS}.gz").read_bytes()
    if kind == "test-labels-padded":  # right size, wrong contents
        data = raw[TEST_LABELS]
        return TRAIN_LABELS, (data * 6)[: len(plain)]
    if kind == "empty":
        return TRAIN_LABELS, b""
    if kind == "corrupt-gz-deflate":  # zlib.error: invalid deflate data
        return f"{TRAIN_LABELS}.gz", flipped(gz, first_position(gz, zlib.error))
    if kind == "corrupt-gz-crc":  # gzip.BadGzipFile: CRC check failed
        return f"{TRAIN_LABELS}.gz", flipped(gz, len(gz) - 8)
    if kind == "truncated-gz":  # EOFError
        return f"{TRAIN_LABELS}.gz", gz[: len(gz) // 2]
    if kind == "not-gzip":  # gzip.BadGzipFile: not a gzipped file
        return f"{TRAIN_LABELS}.gz", plain
    raise ValueError(kind)


BAD_KINDS = [
    "truncated",
    "one-flipped-byte",
    "flipped-byte-gzipped",
    "test-labels-renamed",
    "test-labels-padded",
    "empty",
    "corrupt-gz-deflate",
    "corrupt-gz-crc",
    "truncated-gz",
    "not-gzip",
]


@pytest.fixture(params=BAD_KINDS)
def bad_labels(request, tmp_path, raw_bytes, dataset_dir) -> Path:
    """A source folder with a good test-labels file and a damaged train-labels file."""
    name, content = _bad_train_labels(request.param, raw_bytes, dataset_dir)
    return make_source(
        tmp_path / "bad",
        {f"{TEST_LABELS}.gz": dataset_dir / f"{TEST_LABELS}.gz", name: content},
    )


def test_bad_file_is_never_written_and_the_next_source_is_used(
    labels_only, bad_labels, good_labels, tmp_path, monkeypatch
):
    root = tmp_path / "root"
    dest = raw_dir(root)
    seen_between: list[list[str]] = []

    def probe(dest_dir: Path) -> bool:  # stands in for torchvision, between the two folders
        assert dest_dir == dest
        seen_between.append(everything_in(dest_dir))
        return False

    monkeypatch.setattr(fashion_mnist, "_fetch_with_torchvision", probe)
    winner = fashion_mnist.fetch([str(bad_labels), "torchvision", str(good_labels)], root)
    assert winner == str(good_labels)
    # after the bad folder: its good file may be there, the bad one never (nor a temporary file)
    assert seen_between == [[TEST_LABELS]]
    assert everything_in(dest) == sorted([TEST_LABELS, TRAIN_LABELS])
    for f in LABEL_FILES:
        assert fashion_mnist.file_matches(dest / f.name, f)


def test_only_bad_sources_is_a_user_error_that_says_what_to_do(
    labels_only, bad_labels, tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # as on a machine without it
    root = tmp_path / "root"
    missing = tmp_path / "nowhere"
    with pytest.raises(UserError) as info:
        fashion_mnist.fetch([str(bad_labels), str(missing), "torchvision"], root)
    message = str(info.value)
    for tried in (str(bad_labels), str(missing), "torchvision"):
        assert tried in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "data.sources" in message
    assert "\n" not in message
    assert everything_in(raw_dir(root)) == []  # nothing left behind, good file included


def test_unimportable_torchvision_is_skipped(labels_only, good_labels, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    winner = fashion_mnist.fetch(["torchvision", str(good_labels)], tmp_path / "root")
    assert winner == str(good_labels)


def test_plain_files_are_accepted_and_gz_preferred(labels_only, raw_bytes, tmp_path, dataset_dir):
    plain = make_source(tmp_path / "plain", {n: raw_bytes[n] for n in (TRAIN_LABELS, TEST_LABELS)})
    root = tmp_path / "root"
    assert fashion_mnist.fetch([str(plain)], root) == str(plain)
    for f in LABEL_FILES:
        assert (raw_dir(root) / f.name).read_bytes() == raw_bytes[f.name]
    # a corrupt .gz beside a good plain file: the plain one is used
    (plain / f"{TRAIN_LABELS}.gz").write_bytes(b"\x1f\x8b broken")
    assert fashion_mnist.fetch([str(plain)], tmp_path / "root2") == str(plain)


def test_fetched_files_get_the_usual_permissions(labels_only, good_labels, tmp_path):
    root = tmp_path / "root"
    fashion_mnist.fetch([str(good_labels)], root)
    reference = tmp_path / "reference"
    reference.write_bytes(b"")
    for f in LABEL_FILES:
        assert (raw_dir(root) / f.name).stat().st_mode == reference.stat().st_mode


def test_full_fetch_from_a_folder_copy(raw_root, tmp_path, dataset_dir):
    """All four files, from a copy of the real folder; and the session's raw_root is complete."""
    copy = tmp_path / "copy"
    shutil.copytree(dataset_dir, copy)
    root = tmp_path / "root"
    assert fashion_mnist.fetch([str(copy)], root) == str(copy)
    assert everything_in(raw_dir(root)) == sorted(f.name for f in FILES)
    for f in FILES:
        assert fashion_mnist.file_matches(raw_dir(root) / f.name, f)
        assert (raw_dir(root) / f.name).stat().st_size == f.size
        assert fashion_mnist.file_matches(raw_dir(raw_root) / f.name, f)


def test_full_fetch_skips_a_source_with_one_wrong_file(tmp_path, dataset_dir, raw_bytes):
    """The real four files, except that the images of the training set have one flipped byte."""
    images = "train-images-idx3-ubyte"
    bad = make_source(
        tmp_path / "bad",
        {
            **{f"{f.name}.gz": dataset_dir / f"{f.name}.gz" for f in FILES if f.name != images},
            images: flipped(raw_bytes[images], 16 + 784 * 1234 + 400),
        },
    )
    root = tmp_path / "root"
    assert fashion_mnist.fetch([str(bad), str(dataset_dir)], root) == str(dataset_dir)
    for f in FILES:
        assert md5((raw_dir(root) / f.name).read_bytes()) == f.md5


def test_checksums_are_those_of_the_design_notes():
    assert {f.name: (f.size, f.md5) for f in FILES} == {
        "train-images-idx3-ubyte": (47040016, "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        "train-labels-idx1-ubyte": (60008, "9018921c3c673c538a1fc5bad174d6f9"),
        "t10k-images-idx3-ubyte": (7840016, "8181f5470baa50b63fa0f6fddb340f0a"),
        "t10k-labels-idx1-ubyte": (10008, "15d484375f8d13e6eb1aabb0c3f46965"),
    }


# load_split


@pytest.mark.parametrize(("split", "n"), [("train", 60000), ("test", 10000)])
def test_load_split(raw_root, split, n):
    images, labels = fashion_mnist.load_split(raw_root, split)
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    # Fashion-MNIST is balanced: each of the 10 classes has a tenth of the images
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), [n // 10] * 10)
    assert len(fashion_mnist.CLASSES) == 10
    assert images.max() == 255 and images.min() == 0
    few_images, few_labels = fashion_mnist.load_split(raw_root, split, 100)
    np.testing.assert_array_equal(few_images, images[:100])
    np.testing.assert_array_equal(few_labels, labels[:100])


def test_load_split_before_download_names_the_file(tmp_path):
    with pytest.raises(UserError) as info:
        fashion_mnist.load_split(tmp_path, "train")
    message = str(info.value)
    assert str(raw_dir(tmp_path) / "train-images-idx3-ubyte") in message
    assert "dvc repro download" in message


def test_load_split_refuses_a_damaged_file(tmp_path, raw_bytes):
    folder = raw_dir(tmp_path)
    folder.mkdir(parents=True)
    (folder / TEST_LABELS).write_bytes(raw_bytes[TEST_LABELS])
    images = "t10k-images-idx3-ubyte"
    (folder / images).write_bytes(raw_bytes[images][: 16 + 784 * 10 + 5])  # a truncated copy
    with pytest.raises(UserError, match=r"t10k-images-idx3-ubyte is truncated or corrupt"):
        fashion_mnist.load_split(tmp_path, "test")
    (folder / images).write_bytes(raw_bytes[TEST_LABELS])  # labels where images belong
    with pytest.raises(UserError, match=r"t10k-images-idx3-ubyte is not an IDX file"):
        fashion_mnist.load_split(tmp_path, "test")
    (folder / images).write_bytes(b"\x00\x00")
    with pytest.raises(UserError, match="t10k-images-idx3-ubyte"):
        fashion_mnist.load_split(tmp_path, "test")

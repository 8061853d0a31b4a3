"""Issue "bad data": fetching verifies every file, skips a bad source, and says how to get the data;
reading verifies the files again, so that a file damaged in place after the download is refused.

Fetching is latentlab/download.py, reading latentlab/core/fashion_mnist.py. The bad files are built
from the real ones. Most cases damage a label file and restrict the set
of files to the two label files (real sizes and checksums), so that each case costs milliseconds;
test_full_fetch_* run the same rules over all four files.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from latentlab import download
from latentlab.core import fashion_mnist
from latentlab.core.errors import UserError
from latentlab.core.fashion_mnist import FILES, raw_dir

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
    """Restrict the download to the two label files (real names, sizes and checksums)."""
    monkeypatch.setattr(download, "FILES", LABEL_FILES)


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

    def probe(staging: Path) -> bool:  # stands in for torchvision, between the two folders
        assert staging.parent == dest
        seen_between.append((everything_in(dest), everything_in(staging)))
        return False

    monkeypatch.setattr(download, "_fetch_with_torchvision", probe)
    winner = download.fetch([str(bad_labels), download.TORCHVISION_SOURCE, str(good_labels)], root)
    assert winner == str(good_labels)
    # After the bad folder: nothing of it, not even its good file; only this attempt's folder.
    [(in_dest, staged)] = seen_between
    assert len(in_dest) == 1 and in_dest[0].startswith(".fetch.") and staged == []
    assert everything_in(dest) == sorted([TEST_LABELS, TRAIN_LABELS])
    for f in LABEL_FILES:
        assert fashion_mnist.file_matches(dest / f.name, f)


def test_only_bad_sources_is_a_user_error_that_says_what_to_do(
    labels_only, bad_labels, tmp_path, monkeypatch, caplog
):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # as on a machine without it
    root = tmp_path / "root"
    missing = tmp_path / "nowhere"
    with caplog.at_level(logging.WARNING), pytest.raises(UserError) as info:
        download.fetch([str(bad_labels), str(missing), "torchvision"], root)
    # Each bad source is logged with its one reason: unreadable, the wrong size or checksum.
    assert f"{missing} is not a folder; skipping it" in caplog.text
    reasons = ("is unreadable", "bytes, not the published", "does not match the published checksum")
    assert sum(reason in caplog.text for reason in reasons) == 1
    message = str(info.value)
    for tried in (str(bad_labels), str(missing), "torchvision"):
        assert tried in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "data.sources" in message
    assert "\n" not in message
    assert everything_in(raw_dir(root)) == []  # nothing left behind, good file included


def test_a_failing_source_leaves_the_data_as_it_was(labels_only, good_labels, bad_labels, tmp_path):
    """Verified files in place, then a source that fails: they are neither replaced nor removed."""
    root = tmp_path / "root"
    download.fetch([str(good_labels)], root)
    before = {p.name: (p.stat().st_ino, p.read_bytes()) for p in raw_dir(root).iterdir()}
    with pytest.raises(UserError):
        download.fetch([str(bad_labels)], root)
    assert {p.name: (p.stat().st_ino, p.read_bytes()) for p in raw_dir(root).iterdir()} == before


def test_unimportable_torchvision_is_skipped(labels_only, good_labels, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    winner = download.fetch(["torchvision", str(good_labels)], tmp_path / "root")
    assert winner == str(good_labels)


def test_plain_files_are_accepted_and_gz_preferred(labels_only, raw_bytes, tmp_path, dataset_dir):
    plain = make_source(tmp_path / "plain", {n: raw_bytes[n] for n in (TRAIN_LABELS, TEST_LABELS)})
    root = tmp_path / "root"
    assert download.fetch([str(plain)], root) == str(plain)
    for f in LABEL_FILES:
        assert (raw_dir(root) / f.name).read_bytes() == raw_bytes[f.name]
    # a corrupt .gz beside a good plain file: the plain one is used
    (plain / f"{TRAIN_LABELS}.gz").write_bytes(b"\x1f\x8b broken")
    assert download.fetch([str(plain)], tmp_path / "root2") == str(plain)


def test_fetched_files_get_the_usual_permissions(labels_only, good_labels, tmp_path):
    root = tmp_path / "root"
    download.fetch([str(good_labels)], root)
    reference = tmp_path / "reference"
    reference.write_bytes(b"")
    for f in LABEL_FILES:
        assert (raw_dir(root) / f.name).stat().st_mode == reference.stat().st_mode


def test_full_fetch_from_a_folder_copy(raw_root, tmp_path, dataset_dir):
    """All four files, from a copy of the real folder; and the session's raw_root is complete."""
    copy = tmp_path / "copy"
    shutil.copytree(dataset_dir, copy)
    root = tmp_path / "root"
    assert download.fetch([str(copy)], root) == str(copy)
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
    assert download.fetch([str(bad), str(dataset_dir)], root) == str(dataset_dir)
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


def test_torchvision_source_is_the_name_params_yaml_uses(repo_params):
    assert download.TORCHVISION_SOURCE == "torchvision"
    assert download.TORCHVISION_SOURCE in repo_params["data"]["sources"]


TEST_IMAGES = "t10k-images-idx3-ubyte"


@pytest.fixture
def test_split_copy(tmp_path, raw_root) -> Path:
    """A root holding copies of the two test-split files (the training files are left out)."""
    folder = raw_dir(tmp_path / "copy")
    folder.mkdir(parents=True)
    for name in (TEST_IMAGES, TEST_LABELS):
        shutil.copyfile(raw_dir(raw_root) / name, folder / name)
    return tmp_path / "copy"


def flip_in_place(path: Path, pos: int) -> None:
    """Flip one byte of a file where it lies (same size), and move its mtime on by a second."""
    before = path.stat()
    with path.open("r+b") as f:
        f.seek(pos)
        byte = f.read(1)[0]
        f.seek(pos)
        f.write(bytes([byte ^ 0x01]))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    assert path.stat().st_size == before.st_size


@pytest.mark.parametrize(
    ("name", "pos"),
    [(TEST_IMAGES, 16 + 784 * 123 + 400), (TEST_LABELS, 8 + 77)],
    ids=["images", "labels"],
)
def test_load_split_refuses_a_file_damaged_in_place(test_split_copy, raw_bytes, name, pos):
    """A flipped pixel or label keeps a valid IDX file of the right size: only the MD5 tells."""
    images, labels = fashion_mnist.load_split(test_split_copy, "test")  # verified, and cached
    np.testing.assert_array_equal(labels[:5], np.frombuffer(raw_bytes[TEST_LABELS][8:13], "u1"))
    path = raw_dir(test_split_copy) / name
    flip_in_place(path, pos)
    with pytest.raises(UserError) as info:
        fashion_mnist.load_split(test_split_copy, "test", 10)
    message = str(info.value)
    assert str(path) in message
    assert "does not match the published MD5" in message
    assert "dvc checkout" in message and "dvc repro --force download" in message
    assert "\n" not in message
    # restored (as `dvc checkout` would), the same file loads again, equal to the original
    path.write_bytes(raw_bytes[name])
    again_images, again_labels = fashion_mnist.load_split(test_split_copy, "test")
    np.testing.assert_array_equal(again_images, images)
    np.testing.assert_array_equal(again_labels, labels)


def test_load_split_refuses_a_damaged_file_never_read_before(test_split_copy):
    path = raw_dir(test_split_copy) / TEST_LABELS
    flip_in_place(path, 8 + 9999)  # the last label
    with pytest.raises(UserError, match=rf"{TEST_LABELS} does not match the published MD5"):
        fashion_mnist.load_split(test_split_copy, "test")


def test_load_split_checks_each_file_once_per_process(test_split_copy, monkeypatch):
    real_md5 = hashlib.md5
    calls: list[int] = []

    def counting_md5(*args, **kwargs):
        calls.append(1)
        return real_md5(*args, **kwargs)

    monkeypatch.setattr(fashion_mnist.hashlib, "md5", counting_md5)
    fashion_mnist.load_split(test_split_copy, "test", 5)
    assert len(calls) == 2  # both files of the split
    fashion_mnist.load_split(test_split_copy, "test")
    assert len(calls) == 2  # unchanged files: not hashed again
    labels = raw_dir(test_split_copy) / TEST_LABELS
    before = labels.stat()
    os.utime(labels, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))  # touched
    fashion_mnist.load_split(test_split_copy, "test")
    assert len(calls) == 3  # the touched file is checked again, the other one not


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(lambda raw: raw[TEST_IMAGES][: 16 + 784 * 10 + 5], id="truncated"),
        pytest.param(lambda raw: raw[TEST_LABELS], id="labels-where-images-belong"),
        pytest.param(lambda raw: b"\x00\x00", id="two-bytes"),
        pytest.param(lambda raw: b"", id="empty"),
    ],
)
def test_load_split_refuses_a_wrong_file(tmp_path, raw_bytes, content):
    folder = raw_dir(tmp_path)
    folder.mkdir(parents=True)
    (folder / TEST_LABELS).write_bytes(raw_bytes[TEST_LABELS])
    (folder / TEST_IMAGES).write_bytes(content(raw_bytes))
    with pytest.raises(UserError) as info:
        fashion_mnist.load_split(tmp_path, "test")
    message = str(info.value)
    assert str(folder / TEST_IMAGES) in message
    assert "does not match the published MD5 of t10k-images-idx3-ubyte" in message


def test_idx_parser_refuses_what_is_not_idx(tmp_path, raw_bytes):
    """The IDX reader behind the checksum (reached only by files that pass it)."""
    path = tmp_path / "file"
    labels = np.frombuffer(raw_bytes[TEST_LABELS], dtype=np.uint8)
    parsed = fashion_mnist._parse_idx(labels, 0x00000801, path)
    assert parsed.shape == (10000,) and parsed.dtype == np.uint8
    with pytest.raises(UserError, match="is not an IDX file"):
        fashion_mnist._parse_idx(labels, 0x00000803, path)
    with pytest.raises(UserError, match="is truncated or corrupt"):
        fashion_mnist._parse_idx(labels[:-1], 0x00000801, path)
    with pytest.raises(UserError, match="is not an IDX file"):
        fashion_mnist._parse_idx(labels[:2], 0x00000801, path)
    images = np.frombuffer(raw_bytes[TEST_IMAGES], dtype=np.uint8)
    with pytest.raises(UserError, match="is truncated or corrupt"):
        fashion_mnist._parse_idx(images[:10], 0x00000803, path)

"""The download stage's work: the four Fashion-MNIST files from the first source that verifies.

A source is a folder holding the files (.gz or plain) or `torchvision`, which downloads them and
needs a network. Each file is checked against its published MD5 before it is used.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import tempfile
import zlib
from pathlib import Path

from latentlab.core.artifacts import NEW_FILE_MODE
from latentlab.core.errors import UserError
from latentlab.core.fashion_mnist import FILES, RawFile, raw_dir

log = logging.getLogger(__name__)

TORCHVISION_SOURCE = "torchvision"


def _candidates(folder: Path, expected: RawFile) -> list[Path]:
    """Where a source folder may hold one of the files: gzipped first, then plain."""
    return [folder / f"{expected.name}.gz", folder / expected.name]


def _copy_verified(src: Path, expected: RawFile, dest: Path) -> str | None:
    """Decompress (or copy) `src` into `dest`, at most one byte past the published size (a gzip
    bomb stops there); None when it verifies, else why not."""
    digest, size = hashlib.md5(), 0
    opener = gzip.open if src.suffix == ".gz" else open
    try:
        with opener(src, "rb") as f, dest.open("wb") as out:
            while size <= expected.size:
                block = f.read(min(1 << 20, expected.size + 1 - size))
                if not block:
                    break
                digest.update(block)
                out.write(block)
                size += len(block)
    except (OSError, EOFError, zlib.error) as err:  # zlib.error: corrupt deflate data
        return f"is unreadable ({err})"
    if size != expected.size:
        more = "more" if size > expected.size else f"{size}"
        return f"holds {more} bytes, not the published {expected.size}"
    if digest.hexdigest() != expected.md5:
        return f"does not match the published checksum of {expected.name}"
    return None


def _stage_file(candidates: list[Path], expected: RawFile, dest: Path) -> bool:
    """Put into `dest` the first candidate (gzip or plain) that verifies; False if none does. A
    plain file of another size than the published one is skipped before any byte is read."""
    for src in candidates:
        if not src.is_file():
            continue
        if src.suffix != ".gz" and src.stat().st_size != expected.size:
            log.warning(
                "%s has %d bytes, not the published %d; skipping it",
                src,
                src.stat().st_size,
                expected.size,
            )
            continue
        why = _copy_verified(src, expected, dest)
        if why is None:
            return True
        log.warning("%s %s; skipping it", src, why)
        dest.unlink(missing_ok=True)
    if not any(src.is_file() for src in candidates):
        log.warning("%s is not there; skipping its folder", " or ".join(map(str, candidates)))
    return False


def _fetch_from_directory(source: Path, staging: Path) -> bool:
    """Take the four files (.gz or plain) from a folder into `staging`; False unless all verify."""
    if not source.is_dir():
        log.warning("%s is not a folder; skipping it", source)
        return False
    return all(_stage_file(_candidates(source, f), f, staging / f.name) for f in FILES)


def _fetch_with_torchvision(staging: Path) -> bool:
    """Fall back on torchvision's download (needs a network); False if it fails or won't verify."""
    try:
        from torchvision.datasets import FashionMNIST  # slow to import, so only on this path
    except (ImportError, RuntimeError) as err:  # RuntimeError: built for another torch
        log.warning("torchvision cannot be imported (%s); skipping it", err)
        return False

    with tempfile.TemporaryDirectory(dir=staging, prefix=".torchvision.", suffix=".tmp") as tmp:
        try:
            FashionMNIST(tmp, train=True, download=True)
            FashionMNIST(tmp, train=False, download=True)
        except Exception as err:
            log.warning("torchvision download failed: %s", err)
            return False
        return _fetch_from_directory(raw_dir(Path(tmp)), staging)


def fetch(sources: list[str], root: Path) -> str:
    """Put the four verified files in raw_dir(root), trying `sources` in turn; return the winner.

    Each source's files are verified in a temporary folder beside the data, and replace the files
    there only once all four have verified: a source that fails leaves the data as it was.
    """
    dest_dir = raw_dir(root)
    dest_dir.mkdir(parents=True, exist_ok=True)
    for source in sources:
        log.info("trying Fashion-MNIST source %s", source)
        # Named like atomic_path's files, so that git and DVC ignore it if the stage is killed.
        with tempfile.TemporaryDirectory(dir=dest_dir, prefix=".fetch.", suffix=".tmp") as tmp:
            staging = Path(tmp)
            if source == TORCHVISION_SOURCE:
                ok = _fetch_with_torchvision(staging)
            else:
                ok = _fetch_from_directory(Path(source), staging)
            if ok:
                for f in FILES:
                    os.chmod(staging / f.name, NEW_FILE_MODE)
                    os.replace(staging / f.name, dest_dir / f.name)
                return source
    raise UserError(
        f"no source gave all four Fashion-MNIST files with the published checksums (tried "
        f"{', '.join(sources)}); install them with `apt-get install dataset-fashion-mnist` or put "
        f"the four files in a folder and add it to data.sources in params.yaml"
    )


def check_sources(sources: list[str]) -> None:
    """Refuse data.sources that cannot give the data, before DVC removes any: a path that is not
    a folder, a folder holding none of the four files, or no source that could give them (a
    folder that does not exist is skipped, so that torchvision can follow it on another machine).
    """
    names = ", ".join(f.name for f in FILES)
    for i, source in enumerate(sources):
        folder = Path(source)
        if source == TORCHVISION_SOURCE or not folder.exists():
            continue
        found = [p for f in FILES for p in _candidates(folder, f) if p.is_file()]
        if not folder.is_dir() or not found:
            raise UserError(
                f"params.yaml: data.sources[{i}] is {source!r}, but it must be a folder holding "
                f"the Fashion-MNIST files ({names}; .gz or plain) or {TORCHVISION_SOURCE!r}"
            )
    if not any(s == TORCHVISION_SOURCE or Path(s).exists() for s in sources):
        raise UserError(
            f"params.yaml: data.sources is {sources!r}, but none of them exists and none is "
            f"{TORCHVISION_SOURCE!r}; give the folder that holds the four files"
        )

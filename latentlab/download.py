"""The download stage's work: the four Fashion-MNIST files from the first source that verifies.

A source is a folder holding the files (.gz or plain) or `torchvision`, which downloads them and
needs a network. Each file is checked against its published MD5 before it is used.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import tempfile
import zlib
from pathlib import Path

from latentlab.core.artifacts import NEW_FILE_MODE
from latentlab.core.errors import UserError
from latentlab.core.fashion_mnist import FILES, RawFile, file_matches, raw_dir

log = logging.getLogger(__name__)

TORCHVISION_SOURCE = "torchvision"


def _decompress_verified(candidates: list[Path], expected: RawFile, dest: Path) -> bool:
    """Copy the first candidate (gzip or plain) that verifies to `dest`; False if none does."""
    for src in candidates:
        if not src.is_file():
            continue
        # Named like atomic_path's files, so that a killed copy is ignored by git and DVC.
        with tempfile.NamedTemporaryFile(
            dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp", delete=False
        ) as tmp:
            tmp_path = Path(tmp.name)
            try:
                opener = gzip.open if src.suffix == ".gz" else open
                with opener(src, "rb") as f:
                    shutil.copyfileobj(f, tmp)
                readable = True
            except (OSError, EOFError, zlib.error) as err:  # zlib.error: corrupt deflate data
                log.warning("%s is unreadable (%s); skipping it", src, err)
                readable = False
        if not readable:
            tmp_path.unlink(missing_ok=True)
            continue
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
    if not source.is_dir():
        log.warning("%s is not a folder; skipping it", source)
        return False
    fetched = [
        _decompress_verified([source / f"{f.name}.gz", source / f.name], f, dest_dir / f.name)
        for f in FILES
    ]
    return all(fetched)


def _fetch_with_torchvision(dest_dir: Path) -> bool:
    """Fall back on torchvision's download (needs a network); False if it fails or won't verify."""
    try:
        from torchvision.datasets import FashionMNIST  # slow to import, so only on this path
    except (ImportError, RuntimeError) as err:  # RuntimeError: built for another torch
        log.warning("torchvision cannot be imported (%s); skipping it", err)
        return False

    with tempfile.TemporaryDirectory(
        dir=dest_dir.parent, prefix=".torchvision.", suffix=".tmp"
    ) as tmp:
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

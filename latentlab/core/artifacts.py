"""Writing and reading the tracked files: every write is atomic and byte-reproducible."""

from __future__ import annotations

import contextlib
import errno
import glob
import io
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from latentlab.core.errors import UserError

# A fixed timestamp inside .npz archives, so that equal arrays give equal bytes (np.savez stamps
# the current time, which would make every rerun look like a change to DVC).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# mkstemp makes its file private (0600); the renamed file gets what open() would have given it.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
NEW_FILE_MODE = 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`, renamed onto it only if the block completes.

    A stage killed mid-write then leaves the old file or none, never half of a new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A write killed by SIGKILL leaves its temporary file behind (git and DVC ignore `.*.tmp`);
    # the next write of the same file removes it.
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, NEW_FILE_MODE)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise UserError(
            f"no space left on the device to write {path}, so it was not written; free some "
            f"and rerun the stage"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _non_finite(value: Any, key: str = "") -> str | None:
    """The dotted key of the first NaN or infinite number in a JSON payload, if any."""
    if isinstance(value, float) and not math.isfinite(value):
        return key or "(the value)"
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, (list, tuple))
        else ()
    )
    for k, v in items:
        found = _non_finite(v, f"{key}.{k}" if key else str(k))
        if found:
            return found
    return None


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write a JSON file atomically, keys in the order given; NaN and infinity are refused."""
    bad = _non_finite(payload)
    if bad:
        raise UserError(
            f"{path}: {bad} came out NaN or infinite, so nothing was written; the "
            f"params that produced it are outside what the measures can handle"
        )
    write_bytes(path, (json.dumps(payload, indent=2, allow_nan=False) + "\n").encode())


def read_json(path: Path) -> Any:
    """Read a JSON file that an earlier stage wrote (an object, or a list for DVCLive's plots)."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} is missing; run `dvc repro` to make it") from None
    except (ValueError, RecursionError):  # invalid, a number over 4300 digits, deep nesting
        raise UserError(
            f"{path} is not JSON an earlier stage could have written (invalid, nested too deeply "
            f"or a number too long); restore it with `dvc checkout --force {path}` or rerun "
            f"its stage"
        ) from None


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Write arrays as an .npz archive (readable by np.load) atomically and byte-reproducibly."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
            archive.writestr(
                zipfile.ZipInfo(f"{name}.npy", _ZIP_EPOCH),
                member.getvalue(),
                compress_type=zipfile.ZIP_DEFLATED,
            )
    write_bytes(path, buffer.getvalue())


def load_arrays(path: Path, *names: str) -> tuple[np.ndarray, ...]:
    """The named arrays of an .npz archive an earlier stage wrote (pickles refused)."""
    unreadable = UserError(
        f"{path} is not a readable .npz archive of plain arrays (pickled objects are refused); "
        f"rerun the stage that writes it"
    )
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path} is missing; run `dvc repro` to make it") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise unreadable from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a lone .npy array
        raise unreadable
    with archive:
        missing = [n for n in names if n not in archive.files]
        if missing:
            raise UserError(f"{path} has no array {missing[0]!r}; rerun the stage that writes it")
        try:
            return tuple(archive[n] for n in names)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError):
            raise unreadable from None

"""Tracked files: atomic writes, byte-reproducible .npz and weights, refusing what is not ours."""

from __future__ import annotations

import io
import math
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from latentlab.core import artifacts
from latentlab.core.errors import UserError
from latentlab.nn import checkpoints
from latentlab.nn.models import build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Malicious:
    """Unpickling this runs a shell command that creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# atomic_path


def test_atomic_path_keeps_old_file_when_the_block_raises(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="killed"), artifacts.atomic_path(target) as tmp:
        assert tmp.parent == target.parent  # same folder, so the rename is atomic
        assert tmp != target
        tmp.write_text("half of a new fi")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert listing(tmp_path) == ["out.json"]  # no temporary file left behind


def test_atomic_path_with_no_old_file_leaves_nothing_when_the_block_raises(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    with pytest.raises(ValueError), artifacts.atomic_path(target) as tmp:
        tmp.write_bytes(b"x")
        raise ValueError
    assert listing(tmp_path / "sub") == []


def test_atomic_path_replaces_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with artifacts.atomic_path(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"  # not visible until the block completes
    assert target.read_text() == "new"
    assert listing(tmp_path) == ["out.txt"]


@pytest.mark.parametrize(
    "stale",
    [".out.json.abc123.tmp", ".out.json.x.tmp", ".out.json..tmp"],
)
def test_atomic_path_removes_a_stale_temporary_file_of_the_same_target(tmp_path, stale):
    """A write killed by SIGKILL leaves `.<name>.*.tmp`; the next write of `<name>` removes it."""
    (tmp_path / stale).write_text("half of a killed write")
    artifacts.write_json(tmp_path / "out.json", {"a": 1})
    assert listing(tmp_path) == ["out.json"]


def test_atomic_path_keeps_other_files_temporaries_and_escapes_the_name(tmp_path):
    kept = [
        ".other.json.abc.tmp",  # another file's
        ".out.jsonx.abc.tmp",  # a name that only starts like ours
        ".out.json.abc.tmp.bak",
        "out.json.abc.tmp",  # not hidden: not one of ours
        ".a1.json.abc.tmp",  # would match `.a[1].json.*.tmp` read as a glob class
    ]
    for name in kept:
        (tmp_path / name).write_text("x")
    (tmp_path / ".a[1].json.abc.tmp").write_text("stale")
    artifacts.write_bytes(tmp_path / "out.json", b"{}")
    artifacts.write_bytes(tmp_path / "a[1].json", b"{}")
    assert listing(tmp_path) == sorted([*kept, "out.json", "a[1].json"])


def test_atomic_path_removes_the_stale_file_even_when_the_new_write_fails(tmp_path):
    (tmp_path / ".out.bin.dead.tmp").write_bytes(b"x")
    with pytest.raises(RuntimeError), artifacts.atomic_path(tmp_path / "out.bin") as tmp:
        assert tmp.name.startswith(".out.bin.") and tmp.name.endswith(".tmp")
        raise RuntimeError
    assert listing(tmp_path) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full (not Linux)")
def test_a_full_disk_is_a_user_error_naming_the_file(tmp_path):
    """A write that the kernel refuses with ENOSPC (/dev/full always does)."""
    with (
        pytest.raises(UserError) as info,
        artifacts.atomic_path(tmp_path / "out.json"),
        open("/dev/full", "wb") as full,  # the write fails as the block ends, when it is flushed
    ):
        full.write(b"{}")
    assert str(info.value) == (
        f"no space left on the device to write {tmp_path / 'out.json'}, so it was not "
        f"written; free some and rerun the stage"
    )
    assert listing(tmp_path) == []


def test_written_files_get_the_usual_permissions(tmp_path):
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    artifacts.write_bytes(tmp_path / "atomic", b"x")
    assert (tmp_path / "atomic").stat().st_mode == plain.stat().st_mode


def test_json_round_trip(tmp_path):
    artifacts.write_json(tmp_path / "m.json", {"b": 1.5, "a": 2})
    assert artifacts.read_json(tmp_path / "m.json") == {"b": 1.5, "a": 2}
    assert (tmp_path / "m.json").read_text().index('"b"') < (tmp_path / "m.json").read_text().index(
        '"a"'
    )
    with pytest.raises(UserError, match="missing"):
        artifacts.read_json(tmp_path / "none.json")


@pytest.mark.parametrize(
    "text",
    ["{not json", "[" * 100_000 + "]" * 100_000, '{"test_bce": ' + "9" * 5000 + "}"],
    ids=["invalid", "nested-100000-deep", "5000-digit-number"],
)
def test_json_no_stage_could_have_written_is_refused_naming_the_file(tmp_path, text):
    (tmp_path / "bad.json").write_text(text)
    with pytest.raises(UserError) as info:
        artifacts.read_json(tmp_path / "bad.json")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'bad.json'} is not JSON an earlier stage could have")
    assert f"dvc checkout --force {tmp_path / 'bad.json'}" in message


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        ({"loss": float("nan")}, "loss"),
        ({"a": 1.0, "b": {"c": [0.5, float("inf")]}}, "b.c.1"),
        ({"seed1": {"lab": {"precision": [0.9, 0.8, -math.inf]}}}, "seed1.lab.precision.2"),
        ({"x": [{"y": 1}, {"z": float("nan")}]}, "x.1.z"),
        ({"v": np.float64("nan")}, "v"),  # numpy's float64 is a float: it is caught too
    ],
    ids=["top", "nested-list", "per-judge", "list-of-dicts", "numpy"],
)
def test_write_json_refuses_nan_and_infinity_naming_the_key(tmp_path, payload, key):
    target = tmp_path / "m.json"
    target.write_text('{"old": 1}\n')
    with pytest.raises(UserError) as info:
        artifacts.write_json(target, payload)
    message = str(info.value)
    assert message.startswith(f"{target}: {key} came out NaN or infinite")
    assert "nothing was written" in message and "\n" not in message
    assert target.read_text() == '{"old": 1}\n'  # the old file stays, whole
    assert listing(tmp_path) == ["m.json"]  # and no temporary file
    with pytest.raises(UserError):
        artifacts.write_json(tmp_path / "new.json", payload)
    assert not (tmp_path / "new.json").exists()


def test_write_json_accepts_finite_extremes(tmp_path):
    payload = {"big": 1.7976931348623157e308, "tiny": 5e-324, "neg": -1e300, "ints": [10**20]}
    artifacts.write_json(tmp_path / "m.json", payload)
    assert artifacts.read_json(tmp_path / "m.json") == payload


def test_write_json_refuses_nan_inside_a_tuple(tmp_path):
    with pytest.raises(UserError, match=r"center\.1 came out NaN"):
        artifacts.write_json(tmp_path / "m.json", {"center": (0.0, float("nan"))})
    assert listing(tmp_path) == []


# .npz archives


def test_save_arrays_is_byte_reproducible_and_round_trips(tmp_path, monkeypatch):
    z = np.linspace(-4, 4, 21 * 21 * 2, dtype=np.float32).reshape(21, 21, 2)
    tiles = np.random.default_rng(0).random((21, 21, 28, 28), dtype=np.float32)
    labels = np.arange(10, dtype=np.int64)
    artifacts.save_arrays(tmp_path / "a.npz", z=z, tiles=tiles, labels=labels)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 86400)  # a day later: a timestamp would differ
    artifacts.save_arrays(tmp_path / "b.npz", z=z.copy(), tiles=tiles.copy(), labels=labels.copy())
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    got_z, got_tiles, got_labels = artifacts.load_arrays(tmp_path / "a.npz", "z", "tiles", "labels")
    for got, want in [(got_z, z), (got_tiles, tiles), (got_labels, labels)]:
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    with np.load(tmp_path / "a.npz") as plain:  # an ordinary .npz for anyone else
        assert sorted(plain.files) == ["labels", "tiles", "z"]
    assert listing(tmp_path) == ["a.npz", "b.npz"]


def test_save_arrays_differs_when_the_arrays_do(tmp_path):
    a = np.zeros(5, dtype=np.float32)
    artifacts.save_arrays(tmp_path / "a.npz", x=a)
    artifacts.save_arrays(tmp_path / "b.npz", x=a + 1)
    assert (tmp_path / "a.npz").read_bytes() != (tmp_path / "b.npz").read_bytes()


def _object_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, a=np.array([{"x": 1}], dtype=object))
    return buffer.getvalue()


def _npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(3))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(pickle.dumps({"a": np.zeros(3)}), id="pickle"),
        pytest.param(b"\x00garbage" * 50, id="garbage"),
        pytest.param(b"", id="empty"),
        pytest.param(_object_npz(), id="object-array"),
        pytest.param(_npy(), id="lone-npy"),
        pytest.param(b"PK\x03\x04 truncated zip", id="broken-zip"),
    ],
)
def test_load_arrays_refuses_what_is_not_a_plain_npz(tmp_path, content):
    path = tmp_path / "map.npz"
    path.write_bytes(content)
    with pytest.raises(UserError) as info:
        artifacts.load_arrays(path, "a")
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert "allow_pickle" not in message  # no advice to load it unsafely


def test_load_arrays_does_not_run_a_pickle(tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "codes.npz"
    path.write_bytes(pickle.dumps(Malicious(marker)))
    with pytest.raises(UserError):
        artifacts.load_arrays(path, "codes")
    assert not marker.exists()


def test_load_arrays_missing_file_or_array(tmp_path):
    with pytest.raises(UserError, match=r"missing; run `dvc repro`"):
        artifacts.load_arrays(tmp_path / "none.npz", "z")
    artifacts.save_arrays(tmp_path / "m.npz", z=np.zeros(2))
    with pytest.raises(UserError, match="has no array 'tiles'"):
        artifacts.load_arrays(tmp_path / "m.npz", "z", "tiles")


# weights


def _model(kind: str = "vae", hidden: list[int] | None = None, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(kind, 2, [32] if hidden is None else hidden)


def test_save_weights_is_byte_reproducible_whatever_the_file_name(tmp_path):
    checkpoints.save_weights(_model(), tmp_path / "model.pt")
    checkpoints.save_weights(_model(), tmp_path / "other-name.pt")
    assert (tmp_path / "model.pt").read_bytes() == (tmp_path / "other-name.pt").read_bytes()
    checkpoints.save_weights(_model(seed=1), tmp_path / "seed1.pt")
    assert (tmp_path / "model.pt").read_bytes() != (tmp_path / "seed1.pt").read_bytes()
    assert listing(tmp_path) == ["model.pt", "other-name.pt", "seed1.pt"]


def test_load_weights_round_trip(tmp_path):
    saved = _model()
    checkpoints.save_weights(saved, tmp_path / "model.pt")
    loaded = checkpoints.load_weights(_model(seed=5), tmp_path / "model.pt")
    assert not loaded.training
    for (k1, v1), (k2, v2) in zip(
        saved.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert k1 == k2 and torch.equal(v1, v2)


def _torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param(b"garbage" * 100, ["not a file of plain weights"], id="garbage"),
        # opcodes that make torch's weights-only unpickler fail with an IndexError
        pytest.param(b"this is not a model\x00" * 8, ["not a file of plain weights"], id="opcodes"),
        pytest.param(b"", ["not a file of plain weights"], id="empty"),
        pytest.param(_npy(), ["not a file of plain weights"], id="npy"),
        pytest.param(_torch_bytes([torch.zeros(3)]), ["holds a list"], id="list"),
        pytest.param(_torch_bytes(torch.zeros(3)), ["holds a Tensor"], id="tensor"),
        pytest.param(_torch_bytes({"x": torch.zeros(1)}), ["no tensor"], id="other-keys"),
        pytest.param(
            _torch_bytes(_model("vae", [512]).state_dict()), ["unexpected"], id="vae-into-ae"
        ),
        pytest.param(
            _torch_bytes({k: v[..., :1] for k, v in _model("ae", []).state_dict().items()}),
            ["not a tensor of shape"],
            id="wrong-shapes",
        ),
    ],
)
def test_load_weights_refuses_what_is_not_this_model_s_weights(tmp_path, content, words):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    model = _model("ae", [])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(UserError) as info:
        checkpoints.load_weights(model, path)
    message = str(info.value)
    assert str(path) in message and "dvc repro --force" in message
    for word in words:
        assert word in message
    assert "\n" not in message and "weights_only=False" not in message
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("wrapper", ["raw-pickle", "torch-archive"])
def test_load_weights_never_runs_code_from_the_file(tmp_path, wrapper):
    marker = tmp_path / "executed"
    payload = {"encoder.0.weight": Malicious(marker)}
    path = tmp_path / "model.pt"
    if wrapper == "raw-pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)
    assert not marker.exists()
    with pytest.raises(UserError):
        checkpoints.load_weights(_model("ae", []), path)
    assert not marker.exists()
    # the same file does run its code when loaded without weights_only: the test is real
    if wrapper == "raw-pickle":
        with path.open("rb") as f:
            pickle.load(f)
        assert marker.exists()


def test_load_weights_missing_file(tmp_path):
    with pytest.raises(UserError, match=r"missing; run `dvc repro`"):
        checkpoints.load_weights(_model(), tmp_path / "model.pt")

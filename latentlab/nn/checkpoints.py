"""Model weights on disk: plain state dicts, reproducible bytes, read with weights_only=True."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

from latentlab.core.artifacts import write_bytes
from latentlab.core.errors import UserError


def save_weights(model: nn.Module, path: Path) -> None:
    """Write the model's state dict atomically; equal weights give equal bytes."""
    # torch.save names the archive after the file, so saving through a buffer keeps the bytes
    # independent of the temporary file name that the atomic write uses.
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    write_bytes(path, buffer.getvalue())


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """Load a state dict into `model` (on the CPU); nothing in the file is executed."""
    retrain = "retrain it with `dvc repro --force` on its train stage"
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of odd files
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{path} is missing; run `dvc repro` to train it") from None
    except Exception as err:  # bytes that are not weights fail in many ways
        # (UnpicklingError, RuntimeError, EOFError, even IndexError from garbage opcodes). Not
        # torch's own text: it suggests weights_only=False, which would run the file's code.
        raise UserError(
            f"{path} is not a file of plain weights ({type(err).__name__}); {retrain}"
        ) from None
    expected = model.state_dict()
    if not isinstance(state, dict):
        problem = f"it holds a {type(state).__name__}, not a state dict"
    elif missing := [k for k in expected if k not in state]:
        problem = f"it has no tensor {missing[0]!r}"
    elif unexpected := [k for k in state if k not in expected]:
        problem = f"it has an unexpected entry {unexpected[0]!r}"
    elif wrong := [
        k
        for k, v in expected.items()
        if not isinstance(state[k], torch.Tensor) or state[k].shape != v.shape
    ]:
        problem = f"{wrong[0]!r} is not a tensor of shape {tuple(expected[wrong[0]].shape)}"
    else:
        model.load_state_dict(state)
        return model.eval()
    raise UserError(f"{path} does not hold weights for this model's params ({problem}); {retrain}")

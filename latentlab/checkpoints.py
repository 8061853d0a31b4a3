"""Model weights on disk: plain state dicts, reproducible bytes, read with weights_only=True."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import torch
from torch import nn

from latentlab.artifacts import write_bytes
from latentlab.errors import UserError


def save_weights(model: nn.Module, path: Path) -> None:
    """Write the model's state dict atomically; equal weights give equal bytes."""
    # torch.save names the archive after the file, so saving through a buffer keeps the bytes
    # independent of the temporary file name that the atomic write uses.
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    write_bytes(path, buffer.getvalue())


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """Load a state dict into `model` (on the CPU); nothing in the file is executed."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except FileNotFoundError:
        raise UserError(f"{path} is missing; run `dvc repro` to train it") from None
    except (RuntimeError, pickle.UnpicklingError, KeyError, EOFError) as err:
        reason = str(err).splitlines()[0]
        raise UserError(
            f"{path} does not hold weights for this model's params ({reason}); retrain it with "
            f"`dvc repro --force` on its train stage"
        ) from None
    return model.eval()

"""The models as their train stage wrote them, for the stages that measure them (the judge stage
does not import this, so an edit to the models does not retrain the judges)."""

from __future__ import annotations

import torch

from latentlab.core import paths
from latentlab.core.params import ModelParams
from latentlab.nn.checkpoints import load_weights
from latentlab.nn.models import LatentModel, build_model


def load_trained(mp: ModelParams, seed: int, device: torch.device) -> LatentModel:
    """The model of section `mp` as its train stage wrote it for `seed`, on `device`."""
    model = build_model(mp.kind, mp.latent_dim, mp.hidden)
    return load_weights(model, paths.weights(mp.name, seed)).to(device)

"""The models of params.yaml's sections: built fresh for the train stage, and as their train
stage wrote them for the stages that measure them (the judge stage does not import this, so an
edit to the models does not retrain the judges)."""

from __future__ import annotations

import torch

from latentlab.core import paths
from latentlab.core.params import ModelParams
from latentlab.nn.checkpoints import load_weights
from latentlab.nn.models import LatentModel, build_model


def new_model(mp: ModelParams) -> LatentModel:
    """An untrained model of section `mp`, its prior term weighted as the section says (a VAE's
    beta, a WAE's mmd_weight; an AE has none)."""
    if mp.kind == "vae":
        return build_model(mp.kind, mp.latent_dim, mp.hidden, beta=mp.beta)
    if mp.kind == "wae":
        return build_model(mp.kind, mp.latent_dim, mp.hidden, mmd_weight=mp.mmd_weight)
    return build_model(mp.kind, mp.latent_dim, mp.hidden)


def load_trained(mp: ModelParams, seed: int, device: torch.device) -> LatentModel:
    """The model of section `mp` as its train stage wrote it for `seed`, on `device`."""
    return load_weights(new_model(mp), paths.weights(mp.name, seed)).to(device)

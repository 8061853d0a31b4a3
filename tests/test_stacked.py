"""Seeds' models stacked into one (latentlab/nn/stacked.py): every kind of model's loss terms on a
stacked batch are each seed's own, and the weights go back to the seed they came from."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from latentlab.nn.models import MODEL_KINDS, build_model
from latentlab.nn.stacked import Stack

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CPU = torch.device("cpu")


def models_of(kind: str, seeds: tuple[int, ...] = (1, 2, 3)) -> list[nn.Module]:
    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        out.append(build_model(kind, 2, [16]))
    return out


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_every_kind_s_loss_terms_on_a_stack_are_each_seed_s_own(kind):
    """What a model must do to be trained stacked: its loss_terms keep leading dimensions."""
    models = models_of(kind)
    twin = Stack(models, CPU).twin
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 10, 784, generator=g)
    draws = [m.draw_noise(10, g) for m in models]
    noise = None if draws[0] is None else torch.stack(draws)
    with torch.no_grad():
        stacked = twin.loss_terms(x, noise)
        for i, model in enumerate(models):
            own = model.loss_terms(x[i], None if noise is None else noise[i])
            assert list(own) == list(stacked)
            for name, value in own.items():
                assert stacked[name].shape == (3,)
                torch.testing.assert_close(stacked[name][i], value, rtol=1e-5, atol=1e-4)


def test_weights_go_back_to_their_own_seed():
    models = models_of("vae")
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    stack = Stack(models, CPU)
    with torch.no_grad():
        for p in stack.twin.parameters():
            p.mul_(torch.arange(1.0, 4.0).reshape(3, *[1] * (p.dim() - 1)))  # seed i: x (i + 1)
    stack.write_back()
    for i, (model, old) in enumerate(zip(models, before, strict=True)):
        for key, value in model.state_dict().items():
            torch.testing.assert_close(value, old[key] * (i + 1), rtol=0, atol=0)


def test_seed_parameters_are_each_seed_s_slice_of_the_stacked_weights():
    stack = Stack(models_of("ae"), CPU)
    stacked = list(stack.twin.parameters())
    assert len(stack.seed_parameters) == 3 * len(stacked)
    first = stack.seed_parameters[1]  # seed 2's slice of the first stacked parameter
    assert first.is_leaf and first.requires_grad and first.shape == stacked[0].shape[1:]
    with torch.no_grad():
        first.add_(1.0)  # an optimizer's in-place update reaches the stacked weights
    torch.testing.assert_close(stacked[0][1], first, rtol=0, atol=0)
    stacked[0].sum().mul(2).backward()
    for p in stacked[1:]:
        p.grad = torch.zeros_like(p)
    stack.move_grads()
    assert stacked[0].grad is None
    torch.testing.assert_close(first.grad, torch.full_like(first, 2.0), rtol=0, atol=0)


def test_a_layer_with_its_own_state_is_refused():
    class Normed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(3, 3)
            self.norm = nn.BatchNorm1d(3)  # running statistics would be shared between seeds

    with pytest.raises(ValueError, match=r"norm \(BatchNorm1d\) cannot be stacked"):
        Stack([Normed(), Normed()], CPU)
    with pytest.raises(ValueError, match="models of one kind"):
        Stack([*models_of("ae", (1,)), *models_of("vae", (1,))], CPU)

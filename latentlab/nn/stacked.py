"""Several seeds' models of one architecture as one model: each linear layer holds every seed's
weights stacked, and a batch holds every seed's images stacked (seeds x images x values).

One batched matrix product per layer then does every seed's work, so each product is several
times larger and Python's per-step cost is paid once for all seeds. Seeds stay independent: a
seed's slice of every product, sum and update is computed by the same kernels on the same
numbers whichever seeds share the stack (tests/test_training.py compares the bytes). That holds
where a thread count splits the stacked elementwise work at multiples of the vector width (1 and
2 threads on CPU were checked): vectorised exp and log round differently from their scalar tails.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from latentlab.nn.models import LatentModel


class StackedLinear(nn.Module):
    """S linear layers of one shape applied at once: S x B x in -> S x B x out."""

    def __init__(self, layers: Sequence[nn.Linear]) -> None:
        super().__init__()
        # Stored as S x in x out (each nn.Linear's weight transposed): the forward product and
        # the weight's gradient (x^T g) then both come out contiguous in that layout, so neither
        # autocast's casts nor the optimizer copy a transposed matrix.
        self.weight = nn.Parameter(
            torch.stack([layer.weight.detach().t() for layer in layers]).contiguous()
        )
        self.bias = nn.Parameter(
            torch.stack([layer.bias.detach() for layer in layers]).unsqueeze(1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Each seed's layer on its own batch."""
        return torch.baddbmm(self.bias, x, self.weight)

    @torch.no_grad()
    def write_into(self, layers: Sequence[nn.Linear]) -> None:
        """Copy each seed's weights back into its own layer."""
        for i, layer in enumerate(layers):
            layer.weight.copy_(self.weight[i].t())
            layer.bias.copy_(self.bias[i, 0])


def _linear_names(model: nn.Module) -> list[str]:
    """The names of the model's linear layers; ValueError if anything else holds a parameter or
    a buffer, which stacking would leave shared between seeds."""
    names = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            names.append(name)
        elif any(True for _ in module.parameters(recurse=False)) or any(
            True for _ in module.buffers(recurse=False)
        ):
            raise ValueError(f"{name} ({type(module).__name__}) cannot be stacked over seeds")
    return names


class Stack:
    """Models of one architecture (one per seed) and their stacked twin, which trains them all.

    The twin is a copy of the first model with every linear layer replaced by a StackedLinear,
    so its own methods (loss_terms) run on stacked batches: S x B x 784 images give one value
    per seed of every loss term.
    """

    def __init__(self, models: Sequence[LatentModel], device: torch.device) -> None:
        if not models or len({type(m) for m in models}) != 1:
            raise ValueError("a stack needs models of one kind")
        self.models = list(models)
        self.names = _linear_names(models[0])
        twin = copy.deepcopy(models[0])
        for name in self.names:
            parent, _, child = name.rpartition(".")
            layers = [m.get_submodule(name) for m in models]
            setattr(twin.get_submodule(parent), child, StackedLinear(layers))
        self.twin = twin.to(device)
        # Each seed's slice of each stacked parameter as a leaf tensor of its own that shares the
        # parameter's memory, for the optimizer: a fused kernel treats the few elements of a
        # small tensor (a 4-unit bias) differently from the same elements inside a larger one,
        # so each seed's update is computed on a tensor shaped as when the seed trains alone.
        self.seed_parameters = [
            view.requires_grad_() for p in self.twin.parameters() for view in p.detach().unbind()
        ]

    def move_grads(self) -> None:
        """Hand each stacked parameter's gradient to the seed slices of seed_parameters."""
        views = iter(self.seed_parameters)
        for p in self.twin.parameters():
            assert p.grad is not None
            for grad in p.grad.unbind():
                next(views).grad = grad
            p.grad = None

    def write_back(self) -> None:
        """Copy every seed's trained weights from the twin into its own model."""
        for name in self.names:
            stacked = self.twin.get_submodule(name)
            assert isinstance(stacked, StackedLinear)
            stacked.write_into([m.get_submodule(name) for m in self.models])

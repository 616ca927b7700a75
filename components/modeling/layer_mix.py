"""A learned mix of the encoder's layers: lower layers keep acoustic detail the last layer has dropped."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class LayerWeightedSum(nn.Module):
    """(1/L)·Σ_l w_l·h_l with learnable scalars w_l initialised to 1, so it starts as the plain mean.

    With ``softmax=True`` the weights are softmax(w) instead (a convex mix; also the mean at init).
    """

    def __init__(self, num_layers: int, softmax: bool = False) -> None:
        super().__init__()
        self.num_layers = num_layers
        self.softmax = softmax
        self.weights = nn.Parameter(torch.ones(num_layers))

    def mixing_weights(self) -> torch.Tensor:
        """The (L,) factors applied to the layers."""
        if self.softmax:
            return torch.softmax(self.weights, dim=0)
        return self.weights / self.num_layers

    def forward(self, layers: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """(L, B, T, D) stacked layers, or a sequence of L (B, T, D) tensors → (B, T, D)."""
        stacked = layers if isinstance(layers, torch.Tensor) else torch.stack(tuple(layers))
        if stacked.shape[0] != self.num_layers:
            raise ValueError(f"expected {self.num_layers} layers, got {stacked.shape[0]}")
        weights = self.mixing_weights().to(stacked.dtype)
        return torch.tensordot(weights, stacked, dims=1)

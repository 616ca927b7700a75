"""What every adapter returns, and the masking steps every adapter shares at its input and output.

All adapter kinds go through the same two helpers, so "padded frames never reach real outputs" and
"padded outputs are exactly zero" are enforced in one place rather than re-implemented per kind.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from components.modeling.encoder import length_mask


class AdapterOutput(NamedTuple):
    """embeds (B, S, D_llm) with padded positions zeroed, mask (B, S) long 1/0, alphas (B, T') or None.

    ``alphas`` are the unscaled CIF weights of the integrated frames (zero on padding), kept so the
    trainer can add the quantity loss |Σα − U|; adapters with a fixed downsampling return None.
    ``lid_logits`` (B, T'', 1 + languages) and ``lid_mask`` (B, T'') are an intermediate layer's
    language-ID logits (class 0 is CTC's blank), for the ``lid_ctc`` loss; None without such a head.
    """

    embeds: torch.Tensor
    mask: torch.Tensor
    alphas: torch.Tensor | None
    lid_logits: torch.Tensor | None = None
    lid_mask: torch.Tensor | None = None


def masked_input(hidden: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero padded frames of (B, T, D) and return them with their (B,) lengths.

    Callers may hand in padding holding anything (even inf or NaN, hence a fill, not a product);
    zeroing it first makes the first layer see the same input for a clip alone or in a batch.
    """
    return hidden.masked_fill(mask[..., None] == 0, 0.0), mask.sum(dim=1)


def masked_output(
    embeds: torch.Tensor, lengths: torch.Tensor, alphas: torch.Tensor | None = None
) -> AdapterOutput:
    """Wrap (B, S, D) embeddings with their mask, zeroing positions at or beyond each length."""
    mask = length_mask(lengths, embeds.shape[1])
    return AdapterOutput(embeds * mask[..., None].to(embeds.dtype), mask, alphas)


def with_gain(norm: nn.LayerNorm | nn.RMSNorm, gain: float) -> nn.LayerNorm | nn.RMSNorm:
    """Set a norm's gain: the final norm starts at the LLM's token-embedding RMS so speech embeddings
    enter the LLM at the scale of its own token embeddings."""
    with torch.no_grad():
        norm.weight.fill_(gain)
    return norm

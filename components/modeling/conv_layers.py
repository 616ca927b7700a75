"""Strided 1-D convolutions over variable-length batches, with exact output lengths.

Each convolution is followed by zeroing the frames beyond every clip's new length: a conv window that
straddles the end of a short clip would otherwise mix in whatever the padding held, and the clip's
output would depend on its batch mates.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from components.modeling.encoder import length_mask

Activation = Callable[[torch.Tensor], torch.Tensor]


def conv1d_output_lengths(lengths: torch.Tensor, kernel_size: int, stride: int, padding: int) -> torch.Tensor:
    """PyTorch's Conv1d length rule: L → floor((L + 2·padding − kernel) / stride) + 1."""
    return torch.div(lengths + 2 * padding - kernel_size, stride, rounding_mode="floor") + 1


def masked_conv(
    conv: nn.Conv1d, x: torch.Tensor, lengths: torch.Tensor, activation: Activation
) -> tuple[torch.Tensor, torch.Tensor]:
    """activation(conv(x)) on (B, C, T) with frames beyond the new lengths zeroed; returns (x, lengths)."""
    lengths = conv1d_output_lengths(lengths, conv.kernel_size[0], conv.stride[0], conv.padding[0])
    x = activation(conv(x))
    return x * length_mask(lengths, x.shape[-1])[:, None, :].to(x.dtype), lengths


class ConvSubsampler(nn.Module):
    """[Conv1d(k, stride s, padding k//2) → GELU] × n over (B, T, D) frames; n = 0 is the identity."""

    def __init__(self, in_channels: int, channels: int, layers: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(in_channels if i == 0 else channels, channels, kernel_size, stride, kernel_size // 2)
            for i in range(layers)
        )
        self.out_channels = channels if layers else in_channels

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            lengths = conv1d_output_lengths(lengths, conv.kernel_size[0], conv.stride[0], conv.padding[0])
        return lengths

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, D) with padding zeroed, (B,) lengths → (B, T', C), (B,) lengths."""
        x = hidden.transpose(1, 2)
        for conv in self.convs:
            x, lengths = masked_conv(conv, x, lengths, nn.functional.gelu)
        return x.transpose(1, 2), lengths

"""SpeechVerse-style convolutional downsampler: strided convolutions, then a projection to the LLM width."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
from torch import nn

from components.modeling.adapter_output import AdapterOutput, masked_input, masked_output, with_gain
from components.modeling.conv_layers import ConvSubsampler
from components.modeling.reproducible_norms import LayerNorm


@dataclass(frozen=True)
class ConvDownsamplerConfig:
    """Shapes of the downsampler; ``conv_channels`` None keeps the encoder width through the convs.

    The default, two stride-2 layers, takes a 50 Hz encoder to 12.5 Hz.
    """

    input_size: int
    output_size: int
    conv_layers: int = 2
    kernel_size: int = 3
    stride: int = 2
    conv_channels: int | None = None
    output_scale: float = 1.0  # LayerNorm gain at init: the LLM's token-embedding RMS

    def to_dict(self) -> dict:
        return asdict(self)


class ConvDownsampler(nn.Module):
    """[Conv1d(k, s, padding k//2) → GELU] × n → Linear(→ D_llm) → LayerNorm(gain output_scale)."""

    kind: ClassVar[str] = "conv_downsampler"

    def __init__(self, config: ConvDownsamplerConfig) -> None:
        super().__init__()
        self.config = config
        channels = config.conv_channels or config.input_size
        self.subsample = ConvSubsampler(
            config.input_size, channels, config.conv_layers, config.kernel_size, config.stride
        )
        self.proj = nn.Linear(self.subsample.out_channels, config.output_size)
        self.norm = with_gain(LayerNorm(config.output_size), config.output_scale)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """floor((L + 2·(k//2) − k) / s) + 1 per layer; ceil(L / 2) per layer for the default k=3, s=2."""
        return self.subsample.output_lengths(lengths)

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor, target_lengths: torch.Tensor | None = None
    ) -> AdapterOutput:
        """hidden (B, T, D_enc), mask (B, T) → (B, S, D_llm); ``target_lengths`` is ignored."""
        x, lengths = self.subsample(*masked_input(hidden, mask))
        return masked_output(self.norm(self.proj(x)), lengths)

"""The BLSP modality adapter: trainable convolutions that turn encoder frames into LLM input embeddings."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
from torch import nn

from components.modeling.adapter_output import AdapterOutput, masked_input, masked_output, with_gain
from components.modeling.conv_layers import conv1d_output_lengths, masked_conv
from components.modeling.reproducible_norms import LayerNorm


@dataclass(frozen=True)
class BlspAdapterConfig:
    """Shapes of the BLSP adapter; saved beside its weights so the adapter rebuilds from its directory."""

    input_size: int
    output_size: int
    conv_layers: int = 3
    kernel_size: int = 5
    conv_channels: int = 128
    bottleneck: int = 64
    output_scale: float = 1.0  # LayerNorm gain at init: the LLM's token-embedding RMS

    def to_dict(self) -> dict:
        return asdict(self)


def conv_output_lengths(lengths: torch.Tensor, layers: int, kernel_size: int) -> torch.Tensor:
    """Each Conv1d(k, stride 2, padding k//2) maps L → floor((L + 2·(k//2) − k) / 2) + 1."""
    for _ in range(layers):
        lengths = conv1d_output_lengths(lengths, kernel_size, 2, kernel_size // 2)
    return lengths


def _glu(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.glu(x, dim=1)


class BlspAdapter(nn.Module):
    """BLSP: [Conv1d(k, s2) → GLU] × n (8× fewer frames for n=3) → residual bottleneck → LayerNorm."""

    kind: ClassVar[str] = "conv_glu"

    def __init__(self, config: BlspAdapterConfig) -> None:
        super().__init__()
        self.config = config
        convs = []
        for index in range(config.conv_layers):
            in_channels = config.input_size if index == 0 else config.conv_channels // 2
            out_channels = config.conv_channels if index < config.conv_layers - 1 else 2 * config.output_size
            convs.append(
                nn.Conv1d(
                    in_channels, out_channels, config.kernel_size, stride=2, padding=config.kernel_size // 2
                )
            )
        self.convs = nn.ModuleList(convs)
        self.down = nn.Linear(config.output_size, config.bottleneck, bias=False)
        self.up = nn.Linear(config.bottleneck, config.output_size, bias=False)
        self.norm = with_gain(LayerNorm(config.output_size), config.output_scale)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return conv_output_lengths(lengths, self.config.conv_layers, self.config.kernel_size)

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor, target_lengths: torch.Tensor | None = None
    ) -> AdapterOutput:
        """hidden (B, T, D_enc), mask (B, T) → embeddings (B, S, D_llm), mask (B, S); fixed downsampling,
        so ``target_lengths`` is accepted for a uniform call and ignored."""
        x, lengths = masked_input(hidden, mask)
        x = x.transpose(1, 2)  # (B, D, T)
        for conv in self.convs:
            x, lengths = masked_conv(conv, x, lengths, _glu)
        x = x.transpose(1, 2)  # (B, S, D_llm)
        x = x + self.up(nn.functional.gelu(self.down(x)))
        return masked_output(self.norm(x), lengths)

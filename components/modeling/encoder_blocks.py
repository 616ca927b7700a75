"""BLOOMZMMS-style adapter: a small trainable Transformer encoder between the frozen encoder and the LLM.

Attention lets the adapter re-contextualise frames before they are halved twice (subsampling conv,
then the length adaptor), which plain convolutions cannot do across a whole utterance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
from torch import nn

from components.modeling.adapter_output import AdapterOutput, masked_input, masked_output, with_gain
from components.modeling.conv_layers import ConvSubsampler, masked_conv


@dataclass(frozen=True)
class EncoderBlocksConfig:
    """Shapes of the Transformer adapter; ``ffn_dim`` None means 4·d_model."""

    input_size: int
    output_size: int
    d_model: int = 1024
    layers: int = 2
    heads: int = 16
    ffn_dim: int | None = None
    subsample_kernel: int = 3
    dropout: float = 0.0
    output_scale: float = 1.0  # LayerNorm gain at init: the LLM's token-embedding RMS

    def to_dict(self) -> dict:
        return asdict(self)


def length_adaptor_lengths(lengths: torch.Tensor) -> torch.Tensor:
    """ceil(L / 2): odd lengths get one zero frame so their last frame is kept, not dropped."""
    return torch.div(lengths + 1, 2, rounding_mode="floor")


class EncoderBlocksAdapter(nn.Module):
    """Linear(→ d_model) → Conv1d(s2)+GELU → N pre-norm Transformer blocks → Conv1d(k2, s2)+ReLU →
    Linear(→ D_llm) → LayerNorm(gain output_scale)."""

    kind: ClassVar[str] = "encoder_blocks"

    def __init__(self, config: EncoderBlocksConfig) -> None:
        super().__init__()
        self.config = config
        d_model = config.d_model
        self.pre = nn.Linear(config.input_size, d_model)
        self.subsample = ConvSubsampler(d_model, d_model, 1, config.subsample_kernel, 2)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model,
                config.heads,
                config.ffn_dim or 4 * d_model,
                config.dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(config.layers)
        )
        self.length_adaptor = nn.Conv1d(d_model, d_model, kernel_size=2, stride=2)
        self.proj = nn.Linear(d_model, config.output_size)
        self.norm = with_gain(nn.LayerNorm(config.output_size), config.output_scale)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return length_adaptor_lengths(self.subsample.output_lengths(lengths))

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor, target_lengths: torch.Tensor | None = None
    ) -> AdapterOutput:
        """hidden (B, T, D_enc), mask (B, T) → (B, S, D_llm); ``target_lengths`` is ignored."""
        x, lengths = masked_input(self.pre(hidden), mask)  # per-frame Linear, then clear its padding
        x, lengths = self.subsample(x, lengths)
        padding = torch.arange(x.shape[1], device=x.device)[None, :] >= lengths[:, None]
        for block in self.blocks:
            x = block(x, src_key_padding_mask=padding)
        x = x.masked_fill(padding[..., None], 0.0).transpose(1, 2)
        x = nn.functional.pad(x, (0, x.shape[-1] % 2))  # even frame count: see length_adaptor_lengths
        # an odd clip's zero frame counts as input, so the conv's own rule gives ceil(L / 2)
        x, lengths = masked_conv(self.length_adaptor, x, lengths + lengths % 2, nn.functional.relu)
        return masked_output(self.norm(self.proj(x.transpose(1, 2))), lengths)

"""Frame-stacking SwiGLU projector: k consecutive encoder frames become one LLM embedding.

Stacking gives a fixed, content-independent rate (50 Hz / 8 = 6.25 Hz for Whisper) with no learned
downsampling; the norms around the SwiGLU keep a deep stack of concatenated frames well scaled.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
from torch import nn

from components.modeling.adapter_output import AdapterOutput, masked_input, masked_output, with_gain
from components.modeling.reproducible_norms import RMSNorm


@dataclass(frozen=True)
class StackSwigluConfig:
    """Shapes of the stacking projector; ``hidden_size`` None means 2·output_size (SwiGLU halves it)."""

    input_size: int
    output_size: int
    stack: int = 8
    hidden_size: int | None = None
    input_norm_gain: float = 0.4  # RMSNorm gain on the stacked frames at init
    output_scale: float = 1.0  # final RMSNorm gain at init: the LLM's token-embedding RMS

    def to_dict(self) -> dict:
        return asdict(self)


def stack_output_lengths(lengths: torch.Tensor, stack: int) -> torch.Tensor:
    """ceil(L / k): the last, partial group of frames is zero-filled and still gives an embedding."""
    return torch.div(lengths + stack - 1, stack, rounding_mode="floor")


class StackSwigluProjector(nn.Module):
    """Stack k frames → RMSNorm → Linear → SwiGLU → RMSNorm → Linear → RMSNorm(gain output_scale)."""

    kind: ClassVar[str] = "stack_swiglu"

    def __init__(self, config: StackSwigluConfig) -> None:
        super().__init__()
        hidden = config.hidden_size or 2 * config.output_size
        if hidden % 2:
            raise ValueError(f"hidden_size must be even (SwiGLU splits it in halves), got {hidden}")
        self.config = config
        stacked = config.stack * config.input_size
        self.input_norm = with_gain(RMSNorm(stacked, eps=1e-6), config.input_norm_gain)
        self.up = nn.Linear(stacked, hidden, bias=False)
        self.mid_norm = RMSNorm(hidden // 2, eps=1e-6)
        self.out = nn.Linear(hidden // 2, config.output_size, bias=False)
        self.norm = with_gain(RMSNorm(config.output_size, eps=1e-6), config.output_scale)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return stack_output_lengths(lengths, self.config.stack)

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor, target_lengths: torch.Tensor | None = None
    ) -> AdapterOutput:
        """hidden (B, T, D_enc), mask (B, T) → (B, ceil(T/k), D_llm); ``target_lengths`` is ignored."""
        x, lengths = masked_input(hidden, mask)
        batch, frames, width = x.shape
        k = self.config.stack
        x = nn.functional.pad(x, (0, 0, 0, -frames % k))  # zero frames up to a multiple of k
        x = x.reshape(batch, -1, k * width)
        gate, value = self.up(self.input_norm(x)).chunk(2, dim=-1)
        x = self.out(self.mid_norm(nn.functional.silu(gate) * value))
        return masked_output(self.norm(x), self.output_lengths(lengths))

"""Continuous integrate-and-fire (CIF): a content-dependent number of embeddings, about one per token.

A weight α_t ∈ (0, 1) is predicted per frame and accumulated; each time the accumulator crosses the
threshold β an embedding Σ α·h of the integrated frames is fired. The frame that crosses is split: the
part that completes β goes to the fired embedding, the rest starts the next one.

The integration is computed in closed form: with A_t = α_1 + … + α_t, frame t covers the interval
[A_{t−1}, A_t) of accumulated weight and fire k covers [kβ, (k+1)β), so frame t's weight in fire k is
the length of their overlap. That gives every fire at once as one (B, K, T) × (B, T, D) product, keeps
weight exactly conserved, and handles a frame whose (scaled) α exceeds β and spans several fires.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
from torch import nn

from components.modeling.adapter_output import AdapterOutput, masked_input, masked_output, with_gain
from components.modeling.conv_layers import ConvSubsampler, masked_conv
from components.modeling.encoder import length_mask
from components.modeling.reproducible_norms import LayerNorm

SCALE_EPS = 1e-8  # in the denominator of the α rescaling, so an all-zero α does not divide by zero
FIRE_TOLERANCE = 1e-6  # accumulated weight this close below a multiple of β still fires (rounding)


def cif_weights(
    alphas: torch.Tensor,
    threshold: float = 1.0,
    target_lengths: torch.Tensor | None = None,
    tail_threshold: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integration weights (B, K, T, float64) of each fire over the frames, and the fire counts (B,).

    ``alphas`` (B, T) must be zero on padded frames. With ``target_lengths`` (U, training) α is
    rescaled per sequence so Σα = U·β and exactly U fires come out; the last fire also takes any
    rounding residue. Without (inference) α is used as is: ⌊Σα/β⌋ fires, plus one more from the
    leftover weight when it exceeds ``tail_threshold``; a smaller leftover is dropped.
    """
    # float64 bookkeeping: the accumulated weight grows to ~U, where float32 spacing (~1e-5 at 100)
    # would blur each fire's β and the split of boundary frames
    alphas = alphas.double()
    if target_lengths is not None:
        scale = target_lengths.to(alphas.dtype) * threshold / (alphas.sum(dim=1) + SCALE_EPS)
        alphas = alphas * scale[:, None]
    upper = alphas.cumsum(dim=1)  # accumulated weight after each frame
    # the previous frame's value, not upper − α, so consecutive intervals meet exactly
    lower = nn.functional.pad(upper[:, :-1], (1, 0))
    total = upper[:, -1] if upper.shape[1] else alphas.new_zeros(alphas.shape[0])
    if target_lengths is None:
        full = torch.floor(total / threshold + FIRE_TOLERANCE)
        tail = total - full * threshold > tail_threshold
        lengths = (full + tail.to(full.dtype)).long()
        open_last = tail  # only a tail fire takes everything that is left
    else:
        lengths = target_lengths.long()
        open_last = torch.ones_like(lengths, dtype=torch.bool)
    # .item(), not int(): torch.export then traces the count as a symbol instead of failing to guard on it
    fires = lengths.max().item() if lengths.numel() else 0
    torch._check(fires >= 0)
    index = torch.arange(fires, device=alphas.device, dtype=alphas.dtype)[None, :]  # (1, K)
    start = index * threshold
    is_last = index == (lengths[:, None] - 1).to(alphas.dtype)
    end = torch.where(open_last[:, None] & is_last, torch.inf, start + threshold)  # (B, K)
    overlap = torch.minimum(upper[:, None, :], end[..., None]) - torch.maximum(
        lower[:, None, :], start[..., None]
    )
    weights = overlap.clamp(min=0) * (index < lengths[:, None].to(alphas.dtype))[..., None]
    return weights, lengths


def cif(
    hidden: torch.Tensor,
    alphas: torch.Tensor,
    threshold: float = 1.0,
    target_lengths: torch.Tensor | None = None,
    tail_threshold: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fire (B, K, D) vectors from hidden (B, T, D) and alphas (B, T); returns (vectors, lengths (B,)).

    Fires beyond a sequence's length are zero; see :func:`cif_weights` for the two modes.
    """
    weights, lengths = cif_weights(alphas, threshold, target_lengths, tail_threshold)
    return torch.bmm(weights.to(hidden.dtype), hidden), lengths


@dataclass(frozen=True)
class CifAdapterConfig:
    """Shapes of the CIF adapter; ``conv_channels`` None keeps the encoder width."""

    input_size: int
    output_size: int
    conv_layers: int = 1  # stride-2 subsampling layers before the weights are predicted
    kernel_size: int = 3
    conv_channels: int | None = None
    weight_kernel_size: int = 3  # context of the α predictor's convolution
    threshold: float = 1.0
    tail_threshold: float = 0.5
    output_scale: float = 1.0  # LayerNorm gain at init: the LLM's token-embedding RMS

    def to_dict(self) -> dict:
        return asdict(self)


class CifAdapter(nn.Module):
    """Conv subsampling → α = sigmoid(Linear(ReLU(Conv1d(h)))) → CIF → Linear(→ D_llm) → LayerNorm.

    The output count depends on the content (or equals ``target_lengths`` in training), so there is no
    ``output_lengths``; :meth:`frame_lengths` gives the frames that are integrated instead.
    """

    kind: ClassVar[str] = "cif"

    def __init__(self, config: CifAdapterConfig) -> None:
        super().__init__()
        self.config = config
        channels = config.conv_channels or config.input_size
        self.subsample = ConvSubsampler(
            config.input_size, channels, config.conv_layers, config.kernel_size, 2
        )
        width = self.subsample.out_channels
        self.weight_conv = nn.Conv1d(
            width, width, config.weight_kernel_size, padding=config.weight_kernel_size // 2
        )
        self.weight_proj = nn.Linear(width, 1)
        self.proj = nn.Linear(width, config.output_size)
        self.norm = with_gain(LayerNorm(config.output_size), config.output_scale)

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Frames entering the integrator, NOT the output count: at inference an upper bound on it
        (α < 1 per frame), in training unrelated to it (exactly ``target_lengths`` come out)."""
        return self.subsample.output_lengths(lengths)

    def alphas(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T', C) subsampled frames with padding zeroed → α (B, T'), zero on padded frames."""
        context, _ = masked_conv(self.weight_conv, x.transpose(1, 2), lengths, nn.functional.relu)
        alphas = torch.sigmoid(self.weight_proj(context.transpose(1, 2))).squeeze(-1)
        return alphas.masked_fill(length_mask(lengths, alphas.shape[1]) == 0, 0.0)

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor, target_lengths: torch.Tensor | None = None
    ) -> AdapterOutput:
        """hidden (B, T, D_enc), mask (B, T) → (B, K, D_llm) with K = max fires; ``target_lengths`` (B,)
        switches to training mode (exactly U fires). ``alphas`` are returned unscaled, for |Σα − U|."""
        x, lengths = self.subsample(*masked_input(hidden, mask))
        alphas = self.alphas(x, lengths)
        fired, fire_lengths = cif(
            x, alphas, self.config.threshold, target_lengths, self.config.tail_threshold
        )
        return masked_output(self.norm(self.proj(fired)), fire_lengths, alphas)

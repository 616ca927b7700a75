"""The first conv layer of group-norm wav2vec2-family models, normalised over a clip's real frames only.

wav2vec2-base, HuBERT-base and WavLM-base normalise the first conv layer's output per channel over
time (a ``GroupNorm`` with one group per channel). In a zero-padded batch HF's layer takes those
statistics over the padding too, so a clip's features depend on how long its batch mates are. These
models were pre-trained on cropped, unpadded clips: statistics over the real frames alone are what
they saw, and what one clip run alone gets. With them (and the attention mask), a clip's output is
the same alone and in any batch.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_output_lengths(lengths: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Frames an unpadded conv (no padding, no dilation) gives for ``lengths`` input frames."""
    return torch.div(lengths - kernel, stride, rounding_mode="floor") + 1


class MaskedGroupNormConvLayer(nn.Module):
    """HF's ``*GroupNormConvLayer`` (conv → per-channel norm over time → activation), with the norm's
    mean and variance taken over the first ``lengths`` frames of each row.

    The lengths are set by the owner for one forward (:meth:`set_sample_lengths`) because HF's model
    forward passes its conv stack the waveform alone. With none set it is HF's layer exactly. The
    sub-modules keep HF's names, so the state-dict keys are unchanged.
    """

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        norm = layer.layer_norm
        if not isinstance(norm, nn.GroupNorm) or norm.num_groups != norm.num_channels or not norm.affine:
            raise ValueError(f"expected a per-channel affine GroupNorm in {type(layer).__name__}, got {norm}")
        conv = layer.conv
        if conv.padding != (0,) or conv.dilation != (1,):
            raise ValueError(f"expected an unpadded, undilated conv in {type(layer).__name__}, got {conv}")
        self.conv = conv
        self.layer_norm = norm
        self.activation = layer.activation
        self.frame_lengths: torch.Tensor | None = None

    def set_sample_lengths(self, sample_lengths: torch.Tensor | None) -> None:
        """Real input samples per row for the next forward; None restores HF's batch-wide behaviour."""
        if sample_lengths is None:
            self.frame_lengths = None
            return
        kernel, stride = self.conv.kernel_size[0], self.conv.stride[0]
        self.frame_lengths = conv_output_lengths(sample_lengths, kernel, stride)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        hidden = self.conv(waveform)
        if self.frame_lengths is None:
            return self.activation(self.layer_norm(hidden))
        frames = hidden.shape[-1]
        real = torch.arange(frames, device=hidden.device)[None, :] < self.frame_lengths[:, None]
        real = real[:, None, :].to(hidden.dtype)
        count = real.sum(dim=-1, keepdim=True).clamp(min=1)
        mean = (hidden * real).sum(dim=-1, keepdim=True) / count
        centred = (hidden - mean) * real
        variance = centred.pow(2).sum(dim=-1, keepdim=True) / count  # biased, as GroupNorm's
        normed = centred * torch.rsqrt(variance + self.layer_norm.eps)
        normed = normed * self.layer_norm.weight[None, :, None] + self.layer_norm.bias[None, :, None]
        return self.activation(normed)

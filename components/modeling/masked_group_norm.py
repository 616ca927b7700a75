"""The first conv layer of group-norm wav2vec2-family models, normalised over a clip's real frames only.

wav2vec2-base, HuBERT-base and WavLM-base normalise the first conv layer's output per channel over
time (a ``GroupNorm`` with one group per channel). In a zero-padded batch HF's layer takes those
statistics over the padding too, so a clip's features depend on how long its batch mates are. These
models were pre-trained on cropped, unpadded clips: statistics over the real frames alone are what
they saw, and what one clip run alone gets. With them (and the attention mask), a clip's output is
the same alone and in any batch.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch
from torch import nn

from components.modeling.encoder import length_mask

# The lengths of a forward live on the (shared) layer, so forwards that set them run one at a time.
PER_CALL_LENGTHS = threading.RLock()


def conv_output_lengths(lengths: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Frames an unpadded conv (no padding, no dilation) gives for ``lengths`` input frames."""
    return torch.div(lengths - kernel, stride, rounding_mode="floor") + 1


class MaskedGroupNormConvLayer(nn.Module):
    """HF's ``*GroupNormConvLayer`` (conv → per-channel norm over time → activation), with the norm's
    mean and variance taken over the first ``lengths`` frames of each row.

    The lengths hold for the forwards inside :meth:`sample_lengths`, because HF's model forward passes
    its conv stack the waveform alone. Outside it the layer is HF's exactly. The sub-modules keep HF's
    names, so the state-dict keys are unchanged.
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

    @contextlib.contextmanager
    def sample_lengths(self, samples: torch.Tensor) -> Iterator[None]:
        """Forwards inside normalise over the first ``samples`` input samples of each row."""
        kernel, stride = self.conv.kernel_size[0], self.conv.stride[0]
        with PER_CALL_LENGTHS:
            self.frame_lengths = conv_output_lengths(samples, kernel, stride)
            try:
                yield
            finally:
                self.frame_lengths = None

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        hidden = self.conv(waveform)
        if self.frame_lengths is None:
            return self.activation(self.layer_norm(hidden))
        real = length_mask(self.frame_lengths, hidden.shape[-1])[:, None, :].to(hidden.dtype)
        count = real.sum(dim=-1, keepdim=True).clamp(min=1)
        mean = (hidden * real).sum(dim=-1, keepdim=True) / count
        centred = (hidden - mean) * real
        variance = centred.pow(2).sum(dim=-1, keepdim=True) / count  # biased, as GroupNorm's
        normed = centred * torch.rsqrt(variance + self.layer_norm.eps)
        normed = normed * self.layer_norm.weight[None, :, None] + self.layer_norm.bias[None, :, None]
        return self.activation(normed)

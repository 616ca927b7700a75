"""The frozen speech encoder, run on variable-length input with a padding mask.

HF's ``WhisperEncoder.forward`` insists on 30-second (or ``max_source_positions``) padded input and
ignores the attention mask. We call its own sub-modules instead: the two convolutions, the first
``T`` positional embeddings and every layer with a key-padding mask. No compute is spent on padding
and padded frames never leak into real ones through attention.
"""

from __future__ import annotations

import torch
from torch import nn


def whisper_output_lengths(feature_lengths: torch.Tensor) -> torch.Tensor:
    """Frames after Whisper's conv front end: conv1 keeps the length, conv2 (k3, s2, p1) halves it."""
    return (feature_lengths - 1) // 2 + 1


def length_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """(B,) lengths → (B, frames) mask of 1 on real positions and 0 on padding."""
    return (torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]).long()


def key_padding_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, T) 1/0 mask → (B, 1, 1, T) additive bias that blocks attention to padded keys."""
    bias = (1.0 - mask.to(dtype)) * torch.finfo(dtype).min
    return bias[:, None, None, :]


class SpeechEncoder(nn.Module):
    """Wraps a Whisper encoder: features (B, n_mels, T) + mask (B, T) → hidden (B, T', D) + mask (B, T')."""

    def __init__(self, whisper_encoder: nn.Module) -> None:
        super().__init__()
        self.model = whisper_encoder

    @property
    def hidden_size(self) -> int:
        return self.model.config.d_model

    @property
    def max_frames(self) -> int:
        return self.model.embed_positions.num_embeddings

    def forward(
        self, features: torch.Tensor, feature_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        encoder = self.model
        # Zero padded frames after each conv, so a clip's output does not depend on its batch mates.
        frame_mask = feature_mask[:, None, :].to(features.dtype)
        hidden = nn.functional.gelu(encoder.conv1(features * frame_mask)) * frame_mask
        hidden = nn.functional.gelu(encoder.conv2(hidden)).transpose(1, 2)  # (B, T', D)
        frames = hidden.shape[1]
        lengths = whisper_output_lengths(feature_mask.sum(dim=1))
        mask = length_mask(lengths, frames)
        hidden = (hidden + encoder.embed_positions.weight[:frames]) * mask[..., None].to(hidden.dtype)
        bias = key_padding_bias(mask, hidden.dtype)
        for layer in encoder.layers:
            hidden = layer(hidden, bias)
        hidden = encoder.layer_norm(hidden)
        return hidden * mask[..., None].to(hidden.dtype), mask

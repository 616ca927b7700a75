"""The frozen speech encoder, run on variable-length input with a padding mask.

HF's ``WhisperEncoder.forward`` insists on 30-second (or ``max_source_positions``) padded input and
ignores the attention mask. We call its own sub-modules instead: the two convolutions, the first
``T`` positional embeddings and every layer with a key-padding mask. No compute is spent on padding
and padded frames never leak into real ones through attention.

The wav2vec2 family (wav2vec2, HuBERT, WavLM, MMS, …) takes the raw waveform and its own HF forward
handles variable lengths given an attention mask; :class:`Wav2Vec2SpeechEncoder` adds the length
bookkeeping and, for group-norm models, a first-layer norm over real frames only. Both
wrappers share one API: ``forward`` → (hidden, mask), ``forward_layers`` → (every layer, mask).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from components.modeling.masked_group_norm import MaskedGroupNormConvLayer

WAV2VEC2_FAMILY = frozenset({"wav2vec2", "hubert", "wavlm"})  # waveform in, HF conv feature extractor


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


MEL_FRAMES_PER_SECOND = 100  # Whisper's log-mel hop of 10 ms
WAV2VEC2_RATE = 16000  # every wav2vec2-family checkpoint reads 16 kHz waveforms
WAV2VEC2_MAX_SECONDS = 60  # no positional table limits them; a bound for the exported graph


@dataclass(frozen=True)
class InputSpec:
    """What an encoder reads: channels per frame, frames per second, and the frame-count range it takes."""

    channels: int
    frames_per_second: int
    min_frames: int
    max_frames: int


class SpeechEncoder(nn.Module):
    """Wraps a Whisper encoder: features (B, n_mels, T) + mask (B, T) → hidden (B, T', D) + mask (B, T')."""

    def __init__(self, whisper_encoder: nn.Module) -> None:
        super().__init__()
        self.model = whisper_encoder

    @property
    def hidden_size(self) -> int:
        return self.model.config.d_model

    @property
    def num_layers(self) -> int:
        return len(self.model.layers)

    @property
    def max_frames(self) -> int:
        return self.model.embed_positions.num_embeddings

    def output_lengths(self, feature_lengths: torch.Tensor) -> torch.Tensor:
        """Frames after the conv front end, for mel-frame counts."""
        return whisper_output_lengths(feature_lengths)

    def input_spec(self) -> InputSpec:
        # conv2 halves the mel frames; at least 17 mel frames (0.17 s) give two or more outputs
        return InputSpec(self.model.config.num_mel_bins, MEL_FRAMES_PER_SECOND, 17, 2 * self.max_frames)

    def forward(
        self, features: torch.Tensor, feature_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        layers, mask = self._run(features, feature_mask, every_layer=False)
        return layers[-1], mask

    def forward_layers(
        self, features: torch.Tensor, feature_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Every layer's output (L, B, T', D), padding zeroed; the last is after the final layer norm,
        i.e. equals ``forward``'s hidden."""
        layers, mask = self._run(features, feature_mask, every_layer=True)
        return torch.stack(layers), mask

    def _run(
        self, features: torch.Tensor, feature_mask: torch.Tensor, every_layer: bool
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        encoder = self.model
        if features.shape[-1] > 2 * self.max_frames:  # conv2 halves the frames onto max_frames positions
            raise ValueError(
                f"{features.shape[-1]} mel frames exceed the {2 * self.max_frames} this encoder reads"
                f" ({2 * self.max_frames / MEL_FRAMES_PER_SECOND:g} s): cut the audio first"
            )
        # Zero padded frames after each conv, so a clip's output does not depend on its batch mates.
        frame_mask = feature_mask[:, None, :].to(features.dtype)
        hidden = nn.functional.gelu(encoder.conv1(features * frame_mask)) * frame_mask
        hidden = nn.functional.gelu(encoder.conv2(hidden)).transpose(1, 2)  # (B, T', D)
        frames = hidden.shape[1]
        lengths = whisper_output_lengths(feature_mask.sum(dim=1))
        mask = length_mask(lengths, frames)
        keep = mask[..., None].to(hidden.dtype)
        hidden = (hidden + encoder.embed_positions.weight[:frames]) * keep
        bias = key_padding_bias(mask, hidden.dtype)
        outputs = []
        for index, layer in enumerate(encoder.layers):
            hidden = layer(hidden, bias)
            if every_layer and index < len(encoder.layers) - 1:
                outputs.append(hidden * keep)
        outputs.append(encoder.layer_norm(hidden) * keep)
        return outputs, mask


class Wav2Vec2SpeechEncoder(nn.Module):
    """Wraps a wav2vec2-family model: waveform (B, 1, T) + sample mask (B, T) → hidden (B, T', D) + mask.

    Every model gets the attention mask, so padding never reaches real frames through attention. In
    group-norm models (wav2vec2-base, HuBERT-base) the first conv layer's norm is replaced by one over
    each clip's real frames (:mod:`components.modeling.masked_group_norm`): HF's would take its
    statistics over the padding too. A clip's output is then the same alone and in any batch, for
    every model of the family.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.masked_norm: MaskedGroupNormConvLayer | None = None
        if model.config.feat_extract_norm == "group":
            from components.modeling.masked_group_norm import MaskedGroupNormConvLayer  # it uses length_mask

            conv_layers = model.feature_extractor.conv_layers
            first = conv_layers[0]  # a model wrapped before keeps its one masked layer
            self.masked_norm = (
                first if isinstance(first, MaskedGroupNormConvLayer) else MaskedGroupNormConvLayer(first)
            )
            conv_layers[0] = self.masked_norm

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size

    @property
    def num_layers(self) -> int:
        return self.model.config.num_hidden_layers

    def output_lengths(self, sample_lengths: torch.Tensor) -> torch.Tensor:
        """Frames after the conv feature extractor, by the model's own formula."""
        return self.model._get_feat_extract_output_lengths(sample_lengths).long()

    def input_spec(self) -> InputSpec:
        # the fewest samples that give two or more frames (a size-1 dim is specialised by export)
        fewest = next(n for n in range(1, WAV2VEC2_RATE) if int(self.output_lengths(torch.tensor(n))) >= 2)
        return InputSpec(1, WAV2VEC2_RATE, fewest, WAV2VEC2_MAX_SECONDS * WAV2VEC2_RATE)

    def forward(
        self, features: torch.Tensor, feature_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out, mask = self._run(features, feature_mask, every_layer=False)
        return out.last_hidden_state * mask[..., None].to(out.last_hidden_state.dtype), mask

    def forward_layers(
        self, features: torch.Tensor, feature_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Every Transformer layer's output (L, B, T', D), padding zeroed; the last is the model's output
        (after the final layer norm of pre-norm models), i.e. equals ``forward``'s hidden.

        HF's ``hidden_states`` start with the input to the first layer, which is left out, and (in
        this transformers version) end before a pre-norm model's final layer norm, so the last entry
        is replaced by ``last_hidden_state``. Earlier layers of pre-norm models are the un-normalised
        residual stream, as HF returns them.
        """
        out, mask = self._run(features, feature_mask, every_layer=True)
        if len(out.hidden_states) != self.num_layers + 1:
            raise RuntimeError(f"expected {self.num_layers + 1} hidden states, got {len(out.hidden_states)}")
        layers = torch.stack([*out.hidden_states[1:-1], out.last_hidden_state])
        return layers * mask[None, ..., None].to(layers.dtype), mask

    def _run(
        self, features: torch.Tensor, feature_mask: torch.Tensor, every_layer: bool
    ) -> tuple[Any, torch.Tensor]:
        waveform = features[:, 0] * feature_mask.to(features.dtype)
        samples = feature_mask.sum(dim=1)
        masked = self.masked_norm
        with masked.sample_lengths(samples) if masked is not None else contextlib.nullcontext():
            out = self.model(
                waveform, attention_mask=feature_mask, output_hidden_states=every_layer, return_dict=True
            )
        lengths = self.output_lengths(samples)
        return out, length_mask(lengths, out.last_hidden_state.shape[1])


def speech_encoder(model: nn.Module) -> SpeechEncoder | Wav2Vec2SpeechEncoder:
    """The wrapper for a loaded encoder, chosen by its ``config.model_type``."""
    model_type = model.config.model_type
    if model_type == "whisper":
        return SpeechEncoder(model)
    if model_type in WAV2VEC2_FAMILY:
        return Wav2Vec2SpeechEncoder(model)
    raise ValueError(
        f"unsupported speech encoder {model_type!r}: expected whisper or one of {sorted(WAV2VEC2_FAMILY)}"
    )


def encoder_features(feature_extractor: Any, waveform: np.ndarray) -> np.ndarray:
    """One clip's encoder input (C, T), unpadded: log-mel (n_mels, frames) for Whisper, the normalised
    waveform (1, samples) for the wav2vec2 family. Batches are zero-padded along T by the collate."""
    from transformers import WhisperFeatureExtractor

    if isinstance(feature_extractor, WhisperFeatureExtractor):
        out = feature_extractor(
            waveform,
            sampling_rate=feature_extractor.sampling_rate,
            padding="longest",
            truncation=False,  # the default cuts at chunk_length (30 s) without a word
            return_attention_mask=False,
            return_tensors="np",
        )
        frames = max(1, len(waveform) // feature_extractor.hop_length)
        return out["input_features"][0][:, :frames].astype(np.float32)
    out = feature_extractor(waveform, sampling_rate=feature_extractor.sampling_rate, return_tensors="np")
    return out["input_values"][0][None, :].astype(np.float32)

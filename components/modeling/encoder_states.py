"""The frozen encoder's output per clip ("encoder states"), computed once and reused.

The encoder never trains, so its forward pass gives the same output for a clip at every step, in every
stage and in every run with the same audio and encoder. Training and evaluation therefore read states,
not features: each clip's states are computed once, alone (a batch of one, so no batch mate's padding
can change a bit of them), and batches are formed by padding states (:func:`collate_states`).

A clip's states are keyed by the sha256 of its audio file and the :func:`encoder_key`: the encoder's
weights, its feature extractor's settings, the code that turns audio into states, and whether every
layer is kept (recipes that mix layers need them all). Either changing gives a new key.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from components.modeling import encoder as encoder_module
from components.modeling.encoder import length_mask


def encoder_key(encoder: nn.Module, feature_extractor: Any, every_layer: bool) -> str:
    """Hex sha256 naming what a clip's states depend on besides its audio.

    Covers every tensor of ``encoder`` (name, dtype, shape, bytes), the feature extractor's settings
    (``to_dict``), the source of the modules that turn audio into features into states (this one,
    :mod:`components.modeling.encoder`, :mod:`components.modeling.masked_group_norm`,
    :mod:`components.data.audio`), the torch and transformers versions (their kernels and feature
    extractors), and ``every_layer``.
    """
    import sys

    import transformers

    from components.data import audio as audio_module
    from components.modeling import masked_group_norm

    digest = hashlib.sha256()
    for name, tensor in sorted(encoder.state_dict().items()):
        flat = tensor.detach().contiguous().reshape(-1)
        digest.update(f"{name}\0{flat.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    digest.update(json.dumps(feature_extractor.to_dict(), sort_keys=True, default=str).encode())
    for module in (sys.modules[__name__], encoder_module, masked_group_norm, audio_module):
        digest.update(inspect.getsource(module).encode())
    digest.update(f"torch={torch.__version__} transformers={transformers.__version__}".encode())
    digest.update(f"every_layer={every_layer}".encode())
    return digest.hexdigest()


def clip_key(audio_sha256: str, encoder_sha256: str) -> str:
    """One clip's cache key: its audio's sha256 under one :func:`encoder_key`."""
    return hashlib.sha256(f"{encoder_sha256}\0{audio_sha256}".encode()).hexdigest()


@torch.no_grad()
def clip_states(encoder: nn.Module, features: np.ndarray, every_layer: bool) -> np.ndarray:
    """One clip's encoder output, float32: (T', D), or (L, T', D) with ``every_layer``.

    ``features`` is the clip's unpadded encoder input (C, T) (log-mel for Whisper, the waveform for
    the wav2vec2 family); ``encoder`` a :class:`~components.modeling.encoder.SpeechEncoder` or
    :class:`~components.modeling.encoder.Wav2Vec2SpeechEncoder` in eval mode.
    """
    batch = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))[None]
    mask = torch.ones(1, features.shape[-1], dtype=torch.long)
    if every_layer:
        layers, _ = encoder.forward_layers(batch, mask)  # (L, 1, T', D)
        states = layers[:, 0]
    else:
        hidden, _ = encoder(batch, mask)  # (1, T', D)
        states = hidden[0]
    return states.float().numpy()


def collate_states(states: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad clips' states along time: (T_i, D) → (B, T, D), or (L, T_i, D) → (L, B, T, D);
    with the (B, T) mask of real frames."""
    lengths = torch.tensor([s.shape[-2] for s in states])
    frames = int(lengths.max())
    first = states[0]
    batch = torch.zeros(*first.shape[:-2], len(states), frames, first.shape[-1])
    for index, clip in enumerate(states):
        batch[..., index, : clip.shape[-2], :] = torch.from_numpy(clip)
    return batch, length_mask(lengths, frames)

"""Audio I/O: soundfile decodes, torchaudio resamples; everything becomes mono float32 at one rate."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np


class AudioError(ValueError):
    """An audio file cannot be used; the message names the file."""


class NonFiniteAudio(AudioError):
    """The file decodes, but some samples are NaN or ±inf: it is not sound."""


def load_audio(path: str | Path | BinaryIO, sample_rate: int) -> np.ndarray:
    """Decode ``path`` (a file, or an open binary stream) to a mono float32 waveform at ``sample_rate``."""
    data, _ = conform_audio(*decode_audio(path), sample_rate)
    return np.ascontiguousarray(data[:, 0], dtype=np.float32)


def decode_audio(path: str | Path | BinaryIO) -> tuple[np.ndarray, int]:
    """The file as it is: float32 samples (frames, channels) and its own sample rate.

    Raises AudioError naming the file when it does not decode or holds non-finite samples.
    """
    import soundfile as sf

    stream = hasattr(path, "read")
    label = getattr(path, "name", "audio stream") if stream else path
    try:
        data, rate = sf.read(path if stream else str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(f"{label}: cannot decode audio ({exc})") from None
    non_finite = int(np.count_nonzero(~np.isfinite(data)))
    if non_finite:
        # refused, not repaired: resampling would spread one NaN over its neighbours, and writing it
        # as PCM would turn it into a full-scale sample that was never recorded
        raise NonFiniteAudio(
            f"{label}: {non_finite} of {data.size} samples are not finite (NaN or ±inf): not sound"
        )
    return data, int(rate)


def conform_audio(
    data: np.ndarray, rate: int, sample_rate: int, resample: bool = True, downmix: bool = True
) -> tuple[np.ndarray, int]:
    """Down-mix (frames, channels) to mono and resample it to ``sample_rate``, each only where allowed;
    the samples (frames, channels) and their rate. What is not allowed is left for validation to judge."""
    if downmix and data.shape[1] != 1:
        data = data.mean(axis=1, keepdims=True)
    if resample and rate != sample_rate:
        if len(data):  # torchaudio cannot resample zero samples; empty stays empty
            data = np.stack([resample_wave(channel, rate, sample_rate) for channel in data.T], axis=1)
        rate = sample_rate
    return data.astype(np.float32, copy=False), rate


def resample_wave(waveform: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    import torch
    import torchaudio.functional as AF

    tensor = torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32))
    return AF.resample(tensor, from_rate, to_rate).numpy()


def fit_duration(
    waveform: np.ndarray,
    sample_rate: int,
    max_seconds: float,
    too_long: str,
    label: str,
    min_seconds: float = 0.0,
) -> list[np.ndarray]:
    """The pieces a model reading at most ``max_seconds`` answers for one clip: the clip itself, or
    under ``too_long="split"`` its :func:`split_audio` chunks; ``"reject"`` raises, naming ``label``.

    A clip shorter than ``min_seconds`` (the encoder's shortest input) is refused, never padded: an
    answer to a few milliseconds of sound would be an answer to the padding.
    """
    if not len(waveform):
        raise AudioError(f"{label}: the audio has no samples")
    seconds = len(waveform) / sample_rate
    if seconds < min_seconds:
        raise AudioError(
            f"{label}: {seconds:.3f} s of audio is shorter than the {min_seconds:g} s the encoder"
            " reads at least"
        )
    if seconds <= max_seconds:
        return [waveform]
    if too_long == "split":
        return split_audio(waveform, sample_rate, max_seconds)
    raise AudioError(
        f"{label}: {seconds:.2f} s of audio exceeds the {max_seconds:g} s the encoder reads"
        f" (too_long: {too_long}); cut it, or register with validate.audio.too_long: split"
    )


def split_audio(waveform: np.ndarray, sample_rate: int, max_seconds: float) -> list[np.ndarray]:
    """Cut over-long audio into consecutive chunks of at most ``max_seconds``, dropping no sample.

    For unlabeled audio at inference (``validate.audio.too_long: split``): the chunks are of near-equal
    length, so none is a sliver, and concatenated they are the input again. A labeled utterance is never
    cut this way, because its transcript cannot be divided without an alignment.
    """
    limit = int(max_seconds * sample_rate)
    if limit < 1:
        raise ValueError(f"max_seconds must cover a sample (got {max_seconds} s at {sample_rate} Hz)")
    pieces = max(1, -(-len(waveform) // limit))
    return list(np.array_split(waveform, pieces))

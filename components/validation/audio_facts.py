"""What an audio file's bytes are: their content hash and what they decode to.

These facts depend on the content alone, never on the path, so they can be cached by content hash
(:mod:`components.validation.probe_cache`) and shared by every row that names the same bytes.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class AudioFacts:
    """The decoded facts of one file; a file that does not decode has ``decodable=False`` and an error."""

    decodable: bool
    sample_rate: int | None = None
    channels: int | None = None
    duration_s: float | None = None
    peak: float | None = None
    rms: float | None = None
    error: str | None = None


def content_hash(path: str) -> str:
    """sha256 of the file's bytes, read in chunks so a long file never sits in memory whole."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def decode_facts(path: str) -> AudioFacts:
    """Decode the whole file: the header alone can lie about the length. A decoder failure is a fact."""
    import numpy as np
    import soundfile as sf

    try:
        with sf.SoundFile(path) as handle:
            rate, channels = int(handle.samplerate), int(handle.channels)
            samples = handle.read(dtype="float32", always_2d=True)
    except Exception as exc:  # any decoder failure is data to report, not a crash
        return AudioFacts(decodable=False, error=f"cannot decode ({type(exc).__name__}: {exc})")
    peak = rms = 0.0
    if samples.size:
        peak = float(np.max(np.abs(samples)))
        rms = float(math.sqrt(float(np.mean(np.square(samples, dtype=np.float64)))))
    return AudioFacts(True, rate, channels, samples.shape[0] / rate, peak, rms)

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
    peak: float | None = None  # of the finite samples; 1.0 is full scale
    rms: float | None = None  # of the finite samples
    non_finite: int | None = None  # NaN and ±inf samples
    clipped_share: float | None = None  # share of samples at or beyond full scale (|x| >= CLIPPED)
    constant: bool | None = None  # every sample the same non-zero value (a DC offset, not sound)
    error: str | None = None


CLIPPED = 0.999  # |x| at or above this is full scale: 16-bit PCM's largest is 32767/32768 = 0.99997


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
    finite = samples[np.isfinite(samples)]
    non_finite = int(samples.size - finite.size)
    peak = rms = clipped = 0.0
    constant = False
    if finite.size:
        magnitude = np.abs(finite)
        peak = float(magnitude.max())
        rms = float(math.sqrt(float(np.mean(np.square(finite, dtype=np.float64)))))
        clipped = float(np.count_nonzero(magnitude >= CLIPPED) / samples.size)
        constant = bool(peak > 0 and finite.min() == finite.max() and non_finite == 0 and finite.size > 1)
    return AudioFacts(True, rate, channels, samples.shape[0] / rate, peak, rms, non_finite, clipped, constant)

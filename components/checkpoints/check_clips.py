"""Recorded speech with known words, for checking that a converted Whisper still hears.

The clips are ALSA's channel-test recordings ("Front Left", "Rear Right", …: a human voice, 48 kHz
mono), shipped in Debian's ``alsa-utils`` package and fetched by name like the corpora.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from components.cache import cache_root

ALSA_PACKAGE = "alsa-utils"
SOUNDS = Path("usr/share/sounds/alsa")
# file stem → the words spoken, normalised (lower case, no punctuation)
CLIPS = {"Front_Left": "front left", "Front_Center": "front center", "Rear_Right": "rear right"}


@dataclass(frozen=True)
class CheckClip:
    name: str
    audio: np.ndarray  # (samples,) float32 in [-1, 1]
    sample_rate: int  # Hz
    reference: str


def check_clips(cache: Path | None = None) -> list[CheckClip]:
    """The clips, fetched and unpacked into ``CACHE/debian/`` on first use.

    Raises:
        FetchError: the package cannot be fetched (one line naming it).
    """
    import soundfile as sf

    from components.data.fetch.debian import download_debian_packages, extract_deb

    folder = (cache or cache_root()) / "debian"
    unpacked = folder / ALSA_PACKAGE
    if not (unpacked / SOUNDS).is_dir():
        (deb,) = download_debian_packages([ALSA_PACKAGE], folder)
        extract_deb(deb, unpacked)
    clips = []
    for stem, reference in CLIPS.items():
        audio, rate = sf.read(unpacked / SOUNDS / f"{stem}.wav", dtype="float32", always_2d=True)
        clips.append(CheckClip(stem, audio.mean(axis=1), rate, reference))
    return clips

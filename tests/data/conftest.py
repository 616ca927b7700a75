"""A small corpus builder for the data tests: wavs written with soundfile, manifests as JSON Lines.

Everything is built on the fly in a temporary folder, so the tests need no data, network or GPU.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.config import ValidateParams
from components.data.manifest import SPLITS, manifest_path, write_rows

RATE = 16000
LANGS = ("eng", "fra", "deu", "spa")
CHARS_PER_SECOND = 14  # a plausible speaking rate for the transcripts the builder makes up


def write_wav(
    path: Path,
    seconds: float = 1.0,
    rate: int = RATE,
    channels: int = 1,
    noise: bool = False,
    silent: bool = False,
) -> Path:
    """A short sine (or noise, or silence) wav whose content is unique to its file name."""
    import numpy as np
    import soundfile as sf

    n = int(round(seconds * rate))
    seed = zlib.crc32(path.name.encode())
    if silent:
        wave = np.zeros(n)
    elif noise:
        wave = np.random.default_rng(seed).uniform(-0.3, 0.3, n)
    else:
        wave = 0.3 * np.sin(2 * np.pi * (150 + seed % 500) * np.arange(n) / rate)
    data = np.repeat(wave[:, None], channels, axis=1) if channels > 1 else wave
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data.astype("float32"), rate, subtype="PCM_16")
    return path


def text_for(uid: str, seconds: float) -> str:
    """A transcript as long as ``seconds`` of speech would plausibly be."""
    text = f"utterance {uid}"
    while len(text) < seconds * CHARS_PER_SECOND:
        text += " la"
    return text


class Corpus:
    """A data root with audio and manifests, and the report and cache folders beside it."""

    def __init__(self, base: Path) -> None:
        self.base = Path(base)
        self.root = self.base / "data"
        self.manifests = self.root / "manifests"
        self.out = self.base / "reports"
        self.cache = self.base / "cache"
        self.validated = self.base / "validated"

    def row(self, uid: str, split: str = "train", seconds: float = 1.0, **overrides: Any) -> dict[str, Any]:
        base = {
            "id": uid,
            "audio": f"audio/{uid}.wav",
            "language": LANGS[sum(map(ord, uid)) % len(LANGS)],
            "text": text_for(uid, seconds),
            "duration_s": seconds,
            "sample_rate": RATE,
            "split": split,
        }
        return {**base, **overrides}

    def wav(self, uid: str, seconds: float = 1.0, **kwargs: Any) -> Path:
        return write_wav(self.root / "audio" / f"{uid}.wav", seconds, **kwargs)

    def good(self, uid: str, split: str = "train", seconds: float = 1.0, **overrides: Any) -> dict[str, Any]:
        """A row with its audio written: passes every rule."""
        self.wav(uid, seconds, noise=len(uid) % 2 == 1)
        return self.row(uid, split, seconds, **overrides)

    def clean_rows(self) -> list[dict[str, Any]]:
        """Eight good utterances over all splits, 0.5-2 s, sine and noise, some with optional fields."""
        plan = [
            ("train", 0.5),
            ("train", 1.0),
            ("train", 1.5),
            ("train", 2.0),
            ("dev", 0.8),
            ("dev", 1.2),
            ("test", 0.6),
            ("test", 1.7),
        ]
        rows = [self.good(f"ok{i}", split, seconds) for i, (split, seconds) in enumerate(plan)]
        rows[0].update(translation={"fra": "énoncé"}, speaker="spk1")
        rows[6].update(speaker="spk9")
        return rows

    def write(self, rows: list[dict[str, Any]]) -> list[Path]:
        for split in SPLITS:
            write_rows(manifest_path(split, self.manifests), [r for r in rows if r["split"] == split])
        return [manifest_path(split, self.manifests) for split in SPLITS]

    def append_raw(self, split: str, line: bytes) -> None:
        """Append a manifest line byte for byte (e.g. with bytes that are not UTF-8)."""
        with manifest_path(split, self.manifests).open("ab") as handle:
            handle.write(line.rstrip(b"\n") + b"\n")

    def paths(self) -> list[Path]:
        return [manifest_path(split, self.manifests) for split in SPLITS]

    def validate(self, params: ValidateParams, **kwargs: Any):
        from components.validation.report import run_validation

        kwargs.setdefault("cache_dir", self.cache)
        kwargs.setdefault("validated_dir", self.validated)
        return run_validation(self.paths(), self.root, params, self.out, **kwargs)


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    return Corpus(tmp_path)


@pytest.fixture(scope="session")
def new_corpus(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Corpus]:
    """A fresh corpus folder, for module-scoped fixtures."""
    return lambda name: Corpus(tmp_path_factory.mktemp(name))

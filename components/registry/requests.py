"""What a request to the served model may carry, row by row: audio as the file's bytes (base64 in
JSON), or a path only under a configured audio root; within the model's limits.

The scoring server (``mlflow models serve``) is reachable by whoever can reach its port, so nothing a
client sends is trusted: a path never leaves the root (no ``..``, no symlink out, regular files only:
a FIFO or a device would block or stream forever), and size is checked before decoding.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from components.config import ServingLimits
from components.data.audio import AudioError, load_audio

AUDIO_ROOT_ENV = "SPEECHALIGN_AUDIO_ROOT"  # the serving machine's own root wins over the registered one


class RequestError(ValueError):
    """A request the model refuses; the message names every offending row."""


@dataclass(frozen=True)
class Limits:
    """``registry.serving`` as the model config carries it, the root resolved on the serving machine
    (defaults: :class:`components.config.ServingLimits`'s)."""

    max_rows: int = ServingLimits().max_rows
    max_audio_seconds: float = ServingLimits().max_audio_seconds
    max_audio_bytes: int = ServingLimits().max_audio_bytes
    audio_root: Path | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Limits:
        known = ServingLimits.model_fields
        limits = ServingLimits(**{key: value for key, value in config.items() if key in known})
        root = os.environ.get(AUDIO_ROOT_ENV) or limits.audio_root
        return cls(
            max_rows=limits.max_rows,
            max_audio_seconds=limits.max_audio_seconds,
            max_audio_bytes=limits.max_audio_bytes,
            audio_root=Path(root).resolve() if root else None,
        )


def _present(value: Any) -> bool:
    return isinstance(value, str)  # pandas marks a missing cell None or NaN; "" is an empty file


def _from_base64(text: str, limits: Limits) -> bytes:
    # 4 characters carry 3 bytes, less the padding: refuse by length before decoding anything
    size = len(text) * 3 // 4 - text[-2:].count("=")
    if size > limits.max_audio_bytes:
        raise RequestError(f"{size} bytes of audio; at most {limits.max_audio_bytes}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("`audio` is not base64 (send the audio file's bytes, base64-encoded)") from None


def confined_path(path: str, limits: Limits) -> Path:
    """``path`` (absolute, or relative to the root) as a regular file inside ``limits.audio_root``.

    Raises:
        RequestError: no root is configured, the path climbs (``..``), leads outside the root
            (through a symlink too), does not exist, or is not a regular file, or is too large.
    """
    root = limits.audio_root
    if root is None:
        raise RequestError("`audio_path` is refused: this model serves no audio root; send `audio` (base64)")
    given = Path(path)
    if ".." in given.parts:
        raise RequestError(f"{path}: `..` is not allowed in audio_path")
    try:
        resolved = (given if given.is_absolute() else root / given).resolve(strict=True)
    except (OSError, RuntimeError):
        raise RequestError(f"{path}: no such file under the audio root") from None
    if not resolved.is_relative_to(root):
        raise RequestError(f"{path}: outside the audio root")
    info = resolved.stat()
    if not stat.S_ISREG(info.st_mode):
        raise RequestError(f"{path}: not a regular file")
    if info.st_size > limits.max_audio_bytes:
        raise RequestError(f"{path}: {info.st_size} bytes of audio; at most {limits.max_audio_bytes}")
    return resolved


def row_audio(audio: Any, audio_path: Any, limits: Limits, sample_rate: int) -> np.ndarray:
    """One row's waveform (mono float32 at ``sample_rate`` Hz), from exactly one of the two columns.

    Raises:
        RequestError: neither or both given, or the audio breaks a limit or the root.
        AudioError: the bytes do not decode as audio, or hold non-finite samples.
    """
    if _present(audio) == _present(audio_path):
        raise RequestError("give exactly one of `audio` (base64 of the file) and `audio_path`")
    if _present(audio):
        stream = io.BytesIO(_from_base64(audio, limits))
        stream.name = "audio"
        waveform = load_audio(stream, sample_rate)
    else:
        waveform = load_audio(confined_path(audio_path, limits), sample_rate)
    seconds = len(waveform) / sample_rate
    if seconds > limits.max_audio_seconds:
        raise RequestError(f"{seconds:.1f} s of audio; at most {limits.max_audio_seconds:g} s")
    return waveform


def request_audio(
    audio: Sequence[Any], audio_paths: Sequence[Any], limits: Limits, sample_rate: int
) -> list[np.ndarray]:
    """Every row's waveform, or one :class:`RequestError` naming every bad row (``row N: why``).

    Raises:
        RequestError: more than ``max_rows`` rows, or any row refused by :func:`row_audio`.
    """
    if len(audio) > limits.max_rows:
        raise RequestError(f"{len(audio)} rows in one request; at most {limits.max_rows}")
    waveforms, problems = [], []
    for row, (data, path) in enumerate(zip(audio, audio_paths, strict=True)):
        try:
            waveforms.append(row_audio(data, path, limits, sample_rate))
        except (RequestError, AudioError) as exc:
            problems.append(f"row {row}: {exc}")
    if problems:
        raise RequestError("; ".join(problems))
    return waveforms


def encode_file(path: str | Path) -> str:
    """A local audio file as the request's ``audio`` value (base64 of its bytes)."""
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def request_columns(loaded: Any, path: Path) -> dict[str, list[str]]:
    """The audio column for one local file, as the loaded model's signature asks: its bytes
    (``audio``, base64) for a model that takes them, or the path itself for a version registered
    before requests carried bytes (its ``audio`` column is a path)."""
    inputs = loaded.metadata.get_input_schema().input_names()
    if "audio_path" in inputs:  # the model reads no paths of ours: it is sent what a client sends
        return {"audio": [encode_file(path)]}
    return {"audio": [str(Path(path).resolve())]}

"""Audio probe: measure what each manifest row's audio file really is, before the suite judges it.

Great expectations checks column values, not files, so the facts about the audio (does it exist, does it
decode, its true rate, channels and duration) are computed here and added as columns. A bad file is
recorded in the row, never raised, so one run reports every broken file at once.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

PROBE_COLUMNS = (
    "audio_exists",
    "audio_decodable",
    "audio_sample_rate",
    "audio_channels",
    "audio_duration_s",
    "audio_peak",
    "audio_rms",
    "audio_in_root",
    "audio_error",
)
INT_COLUMNS = ("audio_sample_rate", "audio_channels")
MAX_WORKERS = 8


@dataclass
class AudioProbe:
    """What one audio file really is.

    A fact that could not be checked is None, not False, so each bad file fails only the rule for its
    root cause: a path outside the root is not also "missing", a missing file not also "undecodable".
    """

    audio_exists: bool | None = None
    audio_decodable: bool | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    audio_duration_s: float | None = None
    audio_peak: float | None = None
    audio_rms: float | None = None
    audio_in_root: bool = False
    audio_error: str | None = None


def resolve_in_root(relative: Any, data_root: Path) -> Path | None:
    """The file a manifest ``audio`` value names, or None when it could point outside the data root.

    Rejects absolute paths, ``..`` parts and symlinks that leave the root, so the probe never opens
    a file that DVC does not track as part of the data.
    """
    if not isinstance(relative, str) or not relative.strip():
        return None
    posix, windows = PurePosixPath(relative), PureWindowsPath(relative)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or ".." in windows.parts:
        return None
    root = Path(data_root).resolve()
    target = (root / relative).resolve()
    return target if target.is_relative_to(root) else None


def _measure(path: Path, probe: AudioProbe) -> None:
    """Fill the decoded facts from the samples themselves (the header alone can lie about length)."""
    import numpy as np
    import soundfile as sf

    with sf.SoundFile(path) as handle:
        probe.audio_sample_rate = int(handle.samplerate)
        probe.audio_channels = int(handle.channels)
        samples = handle.read(dtype="float32", always_2d=True)
    probe.audio_decodable = True
    probe.audio_duration_s = samples.shape[0] / probe.audio_sample_rate
    if samples.size:
        probe.audio_peak = float(np.max(np.abs(samples)))
        probe.audio_rms = float(math.sqrt(float(np.mean(np.square(samples, dtype=np.float64)))))
    else:
        probe.audio_peak = probe.audio_rms = 0.0


def probe_file(relative: Any, data_root: Path) -> AudioProbe:
    """Probe one manifest ``audio`` value; every failure becomes a field, never an exception."""
    probe = AudioProbe()
    path = resolve_in_root(relative, data_root)
    if path is None:
        probe.audio_error = f"audio path {relative!r} is not a relative path inside the data root {data_root}"
        return probe
    probe.audio_in_root = True
    probe.audio_exists = path.is_file()
    if not probe.audio_exists:
        probe.audio_error = f"{path}: no such file"
        return probe
    try:
        _measure(path, probe)
    except Exception as exc:  # any decoder failure is data to report, not a crash
        probe.audio_decodable = False
        probe.audio_sample_rate = probe.audio_channels = None
        probe.audio_error = f"{path}: cannot decode ({type(exc).__name__}: {exc})"
    return probe


def probe_audio(rows: list[dict], data_root: Path) -> pd.DataFrame:
    """One row per manifest row: the manifest columns plus the probe columns (:data:`PROBE_COLUMNS`).

    Files are read in a small thread pool: libsndfile releases the GIL, and the work is mostly I/O.
    """
    import pandas as pd

    data_root = Path(data_root)
    workers = max(1, min(MAX_WORKERS, os.cpu_count() or 1, len(rows)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        probes = list(pool.map(lambda row: probe_file(row.get("audio"), data_root), rows))
    manifest = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    measured = pd.DataFrame([asdict(p) for p in probes], columns=list(PROBE_COLUMNS))
    for column in INT_COLUMNS:
        measured[column] = measured[column].astype("Int64")
    for column in ("audio_exists", "audio_decodable"):
        measured[column] = measured[column].astype("boolean")
    measured["audio_in_root"] = measured["audio_in_root"].astype(bool)
    manifest = manifest.drop(columns=[c for c in PROBE_COLUMNS if c in manifest.columns])
    return pd.concat([manifest.reset_index(drop=True), measured], axis=1)

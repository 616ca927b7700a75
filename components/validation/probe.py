"""Audio probe: measure what each manifest row's audio file really is, before the suite judges it.

Great expectations checks column values, not files, so the facts about the audio (does it exist, does it
decode, its true rate, channels, duration, loudness and content hash) are computed here and added as
columns. A bad file is recorded in the row, never raised, so one run reports every broken file at once.
Decoding is the slow part; it runs in worker processes and is skipped for any file the cache knows.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any

from components.validation.audio_facts import AudioFacts, content_hash, decode_facts
from components.validation.probe_cache import ProbeCache

if TYPE_CHECKING:
    import pandas as pd

PROBE_COLUMNS = (
    "audio_in_root",
    "audio_exists",
    "audio_sha256",
    "audio_decodable",
    "audio_sample_rate",
    "audio_channels",
    "audio_duration_s",
    "audio_peak",
    "audio_rms",
    "audio_non_finite",
    "audio_clipped_share",
    "audio_constant",
    "audio_error",
)
INT_COLUMNS = ("audio_sample_rate", "audio_channels", "audio_non_finite")
BOOL_COLUMNS = ("audio_exists", "audio_decodable", "audio_constant")
MAX_WORKERS = 8
MIN_FILES_PER_WORKER = 64  # below this, starting a worker costs more than it saves


@dataclass(frozen=True)
class ProbeStats:
    """How much work a probe did: ``decoded == 0`` on a re-run means the cache answered everything."""

    files: int  # distinct existing files the manifests name
    hashed: int  # files read to compute their content hash (the stat key missed)
    decoded: int  # files decoded (the content hash missed)

    @property
    def cached(self) -> int:
        return self.files - self.decoded


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


def measure_file(path: str, known: Mapping[str, AudioFacts]) -> tuple[str, AudioFacts, bool]:
    """(content hash, facts, whether it had to decode): a file whose content is known is not decoded."""
    digest = content_hash(path)
    facts = known.get(digest)
    return (digest, facts, False) if facts is not None else (digest, decode_facts(path), True)


def default_workers() -> int:
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def process_pool(max_workers: int) -> Executor:
    """Worker processes, forked where the platform can: a fork starts in milliseconds and imports
    nothing again. The children only hash, decode and reduce one file at a time."""
    import multiprocessing

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    return ProcessPoolExecutor(max_workers=max_workers, mp_context=multiprocessing.get_context(method))


def measure_files(
    paths: list[str],
    known: Mapping[str, AudioFacts],
    workers: int | None = None,
    executor: Callable[[int], Executor] = process_pool,
) -> list[tuple[str, AudioFacts, bool]]:
    """:func:`measure_file` over many files, in order: in worker processes when there are enough files
    to share, else in this process. Per file the work is mostly Python holding the GIL (cffi calls,
    small numpy reductions), so threads do not scale; ``bench/validation.py`` measures all three."""
    if not paths:
        return []
    workers = min(workers or default_workers(), max(1, len(paths) // MIN_FILES_PER_WORKER))
    measure = partial(measure_file, known=known)
    if workers == 1:
        return [measure(path) for path in paths]
    chunk = max(1, len(paths) // (workers * 4))
    with executor(workers) as pool:
        return list(pool.map(measure, paths, chunksize=chunk))


def _file_stat(path: Path | None) -> os.stat_result | None:
    """The stat of a regular file, or None when there is none at ``path``."""
    if path is None:
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info if stat.S_ISREG(info.st_mode) else None


def probe_files(
    paths: Iterable[Path], cache: ProbeCache, workers: int | None = None
) -> tuple[dict[Path, tuple[str, AudioFacts]], ProbeStats]:
    """(content hash, facts) of every existing file in ``paths``, the cache asked first and then updated."""
    stats = {path: info for path in set(paths) if (info := _file_stat(path)) is not None}
    found: dict[Path, tuple[str, AudioFacts]] = {}
    unknown: list[Path] = []
    for path, info in stats.items():
        digest = cache.content_hash(str(path), info)
        facts = cache.facts(digest) if digest else None
        if digest and facts:
            found[path] = (digest, facts)
        else:
            unknown.append(path)
    measured = measure_files([str(p) for p in unknown], cache.known_facts(), workers)
    decoded = 0
    for path, (digest, facts, was_decoded) in zip(unknown, measured, strict=True):
        cache.remember(str(path), stats[path], digest, facts)
        found[path] = (digest, facts)
        decoded += was_decoded
    cache.save()
    return found, ProbeStats(files=len(stats), hashed=len(unknown), decoded=decoded)


def probe_row(
    relative: Any, path: Path | None, data_root: Path, measured: Mapping[Path, tuple[str, AudioFacts]]
) -> dict[str, Any]:
    """The probe columns of one row. A fact that could not be checked is None, not False, so each bad
    file fails only the rule for its root cause: a path outside the root is not also "missing"."""
    row: dict[str, Any] = dict.fromkeys(PROBE_COLUMNS)
    row["audio_in_root"] = path is not None
    if path is None:
        row["audio_error"] = (
            f"audio path {relative!r} is not a relative path inside the data root {data_root}"
        )
        return row
    row["audio_exists"] = path in measured
    if not row["audio_exists"]:
        row["audio_error"] = f"{path}: no such file"
        return row
    digest, facts = measured[path]
    row["audio_sha256"] = digest
    row.update({f"audio_{f.name}": getattr(facts, f.name) for f in fields(AudioFacts)})
    if facts.error:
        row["audio_error"] = f"{path}: {facts.error}"
    return row


def probe_audio(
    rows: list[dict], data_root: Path, cache: ProbeCache | None = None, workers: int | None = None
) -> tuple[pd.DataFrame, ProbeStats]:
    """The manifest rows plus the probe columns (:data:`PROBE_COLUMNS`), and what the probe had to do."""
    import pandas as pd

    data_root = Path(data_root)
    resolved = [resolve_in_root(row.get("audio"), data_root) for row in rows]
    cache = cache if cache is not None else ProbeCache(None)
    measured, stats = probe_files((p for p in resolved if p is not None), cache, workers)
    probes = [
        probe_row(row.get("audio"), path, data_root, measured)
        for row, path in zip(rows, resolved, strict=True)
    ]
    manifest = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    measured_frame = pd.DataFrame.from_records(probes, columns=list(PROBE_COLUMNS))
    for column in INT_COLUMNS:
        measured_frame[column] = measured_frame[column].astype("Int64")
    for column in BOOL_COLUMNS:
        measured_frame[column] = measured_frame[column].astype("boolean")
    measured_frame["audio_in_root"] = measured_frame["audio_in_root"].astype(bool)
    manifest = manifest.drop(columns=[c for c in PROBE_COLUMNS if c in manifest.columns])
    frame = pd.concat([manifest.reset_index(drop=True), measured_frame], axis=1)
    return frame, stats

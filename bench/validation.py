"""Validation throughput, measured side by side in one run; nothing here asserts a time.

1. A corpus of distinct real wav files: the probe decoding them serially, in a thread pool and in a
   process pool; then a full validation with an empty probe cache against the same with a warm one.
2. A 100,000-row manifest over 100,000 distinct real wav files (0.5 s of seeded noise each, all
   different bytes): a full validation (probe, suite, data docs, report) with an empty probe cache,
   which hashes (sha256) and decodes every file and leaves the cache as a real earlier run does, then
   the same validation with that warm cache, in rows per second. Every row passes every rule, so the
   cache holds one real content hash per file and the warm run reads no audio (checked: nothing
   hashed or decoded), only each file's size and mtime.

Run: ``make bench-validation`` (or ``python -m bench.validation``).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from components.config import ValidateParams
from components.data.manifest import SPLITS, manifest_path, write_rows
from components.validation.manifests import load_manifests
from components.validation.probe import default_workers, measure_files, probe_audio, process_pool
from components.validation.probe_cache import ProbeCache
from components.validation.report import run_validation

RATE = 16000
PARAMS = ValidateParams(languages=["eng"])
# 11 characters: 22 per second of a 0.5 s clip, inside [min, max]_chars_per_second
SHORT_TEXT = "take {:06d}"


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def write_audio(root: Path, count: int, seconds: float, folder: str = "audio", seed: int = 0) -> list[str]:
    """``count`` distinct noise wavs under ``root/folder``, a thousand to a subfolder; their paths
    relative to ``root``."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        relative = f"{folder}/{i // 1000:03d}/f{i:06d}.wav"
        if i % 1000 == 0:
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
        sf.write(root / relative, rng.uniform(-0.3, 0.3, int(seconds * RATE)).astype("float32"), RATE)
        paths.append(relative)
    return paths


def disk_bytes(root: Path, paths: list[str]) -> int:
    """Bytes the files take on disk (allocated blocks, not their length)."""
    return sum(os.stat(root / p).st_blocks * 512 for p in paths)


def manifest_rows(
    audio: list[str], seconds: float, text: str = "utterance number {:06d} is spoken"
) -> list[dict[str, Any]]:
    """One row per path, 80/10/10 over the splits, each with its own transcript (``text`` numbered)."""
    splits = ["train"] * 8 + ["dev", "test"]
    return [
        {
            "id": f"u{i:06d}",
            "audio": path,
            "language": "eng",
            "text": text.format(i),
            "duration_s": seconds,
            "sample_rate": RATE,
            "split": splits[i % len(splits)],
        }
        for i, path in enumerate(audio)
    ]


def write_manifests(root: Path, rows: list[dict[str, Any]]) -> list[Path]:
    for split in SPLITS:
        write_rows(manifest_path(split, root / "manifests"), [r for r in rows if r["split"] == split])
    return [manifest_path(split, root / "manifests") for split in SPLITS]


def probe_rates(root: Path, audio: list[str]) -> dict[str, float]:
    """Files per second of a cold probe (hash + decode), serially and in thread and process pools."""
    paths = [str(root / a) for a in audio]
    workers = default_workers()
    pools = {
        "serial": (process_pool, 1),
        f"threads x{workers}": (ThreadPoolExecutor, workers),
        f"processes x{workers} (the probe's own)": (process_pool, workers),
    }
    rates = {}
    for name, (executor, count) in pools.items():
        seconds, _ = timed(lambda e=executor, c=count: measure_files(paths, {}, c, e))
        rates[name] = len(paths) / seconds
    return rates


def validate(
    manifests: list[Path], root: Path, cache_dir: Path, out_dir: Path, params: ValidateParams = PARAMS
) -> tuple[float, Any]:
    """Seconds of one full validation, and its outcome (which must pass: a failing run is not timed)."""
    seconds, outcome = timed(lambda: run_validation(manifests, root, params, out_dir, cache_dir=cache_dir))
    assert outcome.success, outcome.format_table()
    return seconds, outcome


def cache_timings(
    manifests: list[Path],
    root: Path,
    cache_dir: Path,
    out_dir: Path,
    params: ValidateParams = PARAMS,
    repeats: int = 1,
) -> dict[str, tuple[float, float]]:
    """Seconds with an empty, then a warm probe cache (the empty run's), of the probe alone and of the
    full validation; the median of ``repeats`` rounds, each with its own new cache under ``cache_dir``.
    The warm runs are checked to have read no audio."""
    rounds = []
    for number in range(repeats):
        cache = cache_dir / f"round-{number}"
        assert not cache.exists(), f"{cache}: the cold run needs an empty probe cache"
        cold_s, _ = validate(manifests, root, cache, out_dir, params)
        warm_s, warm = validate(manifests, root, cache, out_dir, params)
        assert warm.probe.decoded == warm.probe.hashed == 0
        probe_cold_s, probe_warm_s = (
            timed(lambda c=probe_cache: probe_audio(load_manifests(manifests), root, c))[0]
            for probe_cache in (ProbeCache(None), ProbeCache(cache))
        )
        rounds.append((probe_cold_s, probe_warm_s, cold_s, warm_s))
    probe_cold_s, probe_warm_s, cold_s, warm_s = map(statistics.median, zip(*rounds, strict=True))
    return {"probe alone": (probe_cold_s, probe_warm_s), "full validation": (cold_s, warm_s)}


def report_pools(root: Path, audio: list[str], seconds: float) -> None:
    rates = probe_rates(root, audio)
    print(f"probe, {len(audio)} distinct {seconds:.0f} s wavs, cold (sha256 + decode), {os.cpu_count()} cpus")
    for name, rate in rates.items():
        print(f"  {name:<32} {rate:9.0f} files/s  ({rate / rates['serial']:.2f}x serial)")


def report_cache(base: Path, root: Path, manifests: list[Path], rows: int) -> float:
    """Empty against warm probe cache, for the probe alone and for the full validation; the warm
    validation's seconds are returned as the baseline of the large run."""
    validate(manifests, root, base / "cache-warmup", base / "report")  # imports and first-use costs
    timings = cache_timings(manifests, root, base / "cache", base / "report")
    print(f"{rows} rows, probe cache empty -> warm")
    for name, (empty, full) in timings.items():
        rates = f"{rows / empty:8.0f} -> {rows / full:8.0f} rows/s"
        print(f"  {name:<16} {rates}  ratio warm/empty: {empty / full:.2f}")
    return timings["full validation"][1]


def report_large(base: Path, rows: int, seconds: float, baseline_rows: int, baseline_s: float) -> None:
    """``rows`` distinct files validated with an empty probe cache (hash + decode each), then with the
    cache that run left; the warm run is checked to have read no audio."""
    assert seconds >= PARAMS.min_duration_s
    root = base / "large"
    write_s, audio = timed(lambda: write_audio(root, rows, seconds, folder="corpus", seed=1))
    manifests = write_manifests(root, manifest_rows(audio, seconds, SHORT_TEXT))
    size = disk_bytes(root, audio)
    print(
        f"full validation, {rows} rows naming {rows} distinct {seconds:g} s wavs: probe cache empty -> warm"
    )
    print(f"  the wavs: {size / 1e9:.2f} GB on disk, written in {write_s:.0f} s")
    cache = base / "cache-large"
    cold_s, cold = validate(manifests, root, cache, base / "report")
    assert cold.probe is not None and cold.probe.files == cold.probe.hashed == cold.probe.decoded == rows
    assert not cold.failures, cold.format_table()  # every rule passes, audio_unique included
    assert len(ProbeCache(cache).known_facts()) == rows, "the cache holds one content hash per file"
    warm_s, warm = validate(manifests, root, cache, base / "report")
    assert warm.probe is not None and warm.probe.files == rows
    assert warm.probe.decoded == warm.probe.hashed == 0
    print(f"  cold (sha256 + decode every file) {rows / cold_s:8.0f} rows/s ({cold_s:.1f} s)")
    print(f"  warm (stat only)                  {rows / warm_s:8.0f} rows/s ({warm_s:.1f} s)")
    print(f"  ratio warm/cold: {cold_s / warm_s:.2f}")
    print(f"  ratio to {baseline_rows} rows, warm: {(rows / warm_s) / (baseline_rows / baseline_s):.2f}")


def main(files: int = 1000, rows: int = 100_000, seconds: float = 3.0, row_seconds: float = 0.5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        root = base / "data"
        audio = write_audio(root, files, seconds)
        report_pools(root, audio, seconds)
        small_s = report_cache(base, root, write_manifests(root, manifest_rows(audio, seconds)), files)
        report_large(base, rows, row_seconds, files, small_s)


if __name__ == "__main__":
    main()

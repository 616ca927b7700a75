"""Validation throughput, measured side by side in one run; nothing here asserts a time.

1. A corpus of distinct real wav files: the probe decoding them serially, in a thread pool and in a
   process pool; then a full validation with an empty probe cache against the same with a warm one.
2. A 100,000-row manifest with a warm probe cache: full validation (probe, suite, data docs, report)
   in rows per second. Its rows are hard links to the files of part 1, so each row names its own path;
   the cache is pre-filled with one distinct content hash per path, as an unchanged corpus of 100,000
   distinct files leaves it, so no row is a duplicate of another.

Run: ``make bench-validation`` (or ``python -m bench.validation``).
"""

from __future__ import annotations

import hashlib
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
from components.validation.audio_facts import decode_facts
from components.validation.manifests import load_manifests
from components.validation.probe import default_workers, measure_files, probe_audio, process_pool
from components.validation.probe_cache import ProbeCache
from components.validation.report import run_validation

RATE = 16000
PARAMS = ValidateParams(languages=["eng"])


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def write_audio(root: Path, count: int, seconds: float) -> list[str]:
    """``count`` distinct noise wavs under ``root/audio``; their paths relative to ``root``."""
    rng = np.random.default_rng(0)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        relative = f"audio/f{i:05d}.wav"
        sf.write(root / relative, rng.uniform(-0.3, 0.3, int(seconds * RATE)).astype("float32"), RATE)
        paths.append(relative)
    return paths


def manifest_rows(audio: list[str], seconds: float) -> list[dict[str, Any]]:
    """One row per path, 80/10/10 over the splits, each with its own plausible transcript."""
    splits = ["train"] * 8 + ["dev", "test"]
    return [
        {
            "id": f"u{i:06d}",
            "audio": path,
            "language": "eng",
            "text": f"utterance number {i:06d} is spoken",
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


def link_audio(root: Path, sources: list[str], count: int) -> list[str]:
    """``count`` hard links under ``root/links``, cycling over ``sources``: distinct paths, no new bytes."""
    (root / "links").mkdir()
    paths = []
    for i in range(count):
        relative = f"links/l{i:06d}.wav"
        os.link(root / sources[i % len(sources)], root / relative)
        paths.append(relative)
    return paths


def prefill_cache(cache_dir: Path, root: Path, linked: list[str], sources: list[str]) -> None:
    """The cache an earlier run over 100,000 distinct files would leave: one content hash per path."""
    cache = ProbeCache(cache_dir)
    facts = {source: decode_facts(str(root / source)) for source in sources}
    for i, relative in enumerate(linked):
        path = (root / relative).resolve()
        digest = hashlib.sha256(relative.encode()).hexdigest()
        cache.remember(str(path), os.stat(path), digest, facts[sources[i % len(sources)]])
    cache.save()


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


def main(files: int = 1000, rows: int = 100_000, seconds: float = 3.0) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        root = base / "data"
        audio = write_audio(root, files, seconds)
        report_pools(root, audio, seconds)
        small_s = report_cache(base, root, write_manifests(root, manifest_rows(audio, seconds)), files)

        linked = link_audio(root, audio, rows)
        manifests = write_manifests(root, manifest_rows(linked, seconds))
        prefill_cache(base / "cache-big", root, linked, audio)
        big_s, big = validate(manifests, root, base / "cache-big", base / "report")
        assert big.probe.decoded == big.probe.hashed == 0
        print(f"full validation, {rows} rows, warm probe cache")
        print(f"  {rows / big_s:9.0f} rows/s ({big_s:.1f} s)")
        print(f"  ratio to {files} rows, warm: {(rows / big_s) / (files / small_s):.2f}")


if __name__ == "__main__":
    main()

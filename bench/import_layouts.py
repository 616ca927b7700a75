"""Validation of each import layout, with an empty against a warm probe cache; nothing here asserts a time.

Each layout of ``tests/data/layouts.py`` (clean: every layout passes) is built at about ``size`` rows and
imported by its real importer, then validated as the validate stage does: first with an empty probe
cache, then again unchanged with the cache the first run left (checked to read no audio). Printed per
layout: rows, seconds cold and warm (the median of a few rounds) and the speed-up warm over cold, for the
probe alone and for the full validation (probe, great-expectations suite, data docs, report). "Cold"
means an empty probe cache, not an empty page cache: the files were just written.

Run: ``make bench-import-layouts`` (also part of ``make bench``), or ``python -m bench.import_layouts``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench.validation import cache_timings, timed, validate
from components.config import CorpusParams, ValidateParams
from components.data.importers import IMPORTERS, import_corpus
from components.data.manifest import SPLITS, manifest_path
from tests.data.layouts import BUILDERS, RATE

Timings = dict[str, tuple[float, float]]


def measure_layout(
    kind: str, base: Path, size: int, repeats: int, warm_up: bool
) -> tuple[int, float, Timings]:
    """(rows, seconds of the import, :func:`bench.validation.cache_timings`) of layout ``kind``; with
    ``warm_up``, one untimed validation first pays the imports and first-use costs."""
    source, expected = BUILDERS[kind](base / "source", size=size)
    corpus = CorpusParams(kind=kind, source=str(source))
    import_s, (rows, rejected) = timed(lambda: import_corpus(corpus, RATE, base / "data", progress=False))
    assert rejected == [], rejected  # a clean layout: every row imports
    params = ValidateParams(languages=sorted({language for _, _, language in expected.values()}))
    root, report = base / "data", base / "report"
    manifests = [manifest_path(split, root / "manifests") for split in SPLITS]
    if warm_up:
        validate(manifests, root, base / "cache-warmup", report, params)
    return len(rows), import_s, cache_timings(manifests, root, base / "cache", report, params, repeats)


def main(size: int = 200, repeats: int = 5) -> None:
    print(f"validation per import layout, about {size} rows each, probe cache empty -> warm")
    print(f"{os.cpu_count()} cpus; seconds, median of {repeats} rounds; speed-up = cold / warm")
    print(
        f"{'layout':<12} {'rows':>5} {'import s':>9} | {'probe cold':>10} {'warm':>7} {'speed-up':>8}"
        f" | {'validation cold':>15} {'warm':>7} {'speed-up':>8}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for index, kind in enumerate(sorted(IMPORTERS)):
            rows, import_s, timings = measure_layout(
                kind, Path(tmp) / kind, size, repeats, warm_up=index == 0
            )
            cells = [
                f"{cold:>{width}.3f} {warm:>7.3f} {cold / warm:>7.1f}x"
                for width, (cold, warm) in zip((10, 15), timings.values(), strict=True)
            ]
            print(f"{kind:<12} {rows:>5} {import_s:>9.2f} | {cells[0]} | {cells[1]}", flush=True)


if __name__ == "__main__":
    main()

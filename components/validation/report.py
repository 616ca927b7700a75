"""Validate the manifests end to end and write the report the ``validate`` stage publishes.

Outputs in ``out_dir``: ``results.json`` (flat, DVC-metrics friendly), ``probe.csv`` (what the probe
measured per utterance) and ``quarantine.jsonl`` (the rows dropped for failing warning rules), all
decided by the data alone; and the great-expectations HTML in ``docs_dir`` (default
``out_dir/data_docs``), which great expectations stamps with the time it rendered it, so the stage keeps
it outside its DVC output. They are built in a temporary folder beside them and moved into place, so a
crash never leaves a half-written report that DVC could cache. On success the kept rows are written as
the validated manifests.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.config import ValidateParams
from components.data.rejected import read_rejected
from components.validation.derived import add_derived_columns
from components.validation.imports import rejected_frame, rejected_records
from components.validation.manifests import load_manifests
from components.validation.probe import ProbeStats, probe_audio
from components.validation.probe_cache import ProbeCache
from components.validation.quarantine import (
    QUARANTINE_FILE,
    Quarantine,
    decide_quarantine,
    write_quarantine,
    write_validated,
)
from components.validation.render import MAX_IDS_SHOWN, format_table
from components.validation.suite import Check, Failure, run_suite

if TYPE_CHECKING:
    import pandas as pd

RESULTS_FILE = "results.json"
PROBE_FILE = "probe.csv"
DOCS_DIR = "data_docs"


@dataclass(frozen=True)
class ValidationOutcome:
    """What the stage needs to decide its exit code and tell the user why."""

    success: bool
    rows: int
    checks: list[Check] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    quarantine: Quarantine | None = None
    probe: ProbeStats | None = None
    out_dir: Path | None = None
    docs_dir: Path | None = None

    @property
    def evaluated(self) -> int:
        return len(self.checks)

    def summary(self) -> dict[str, Any]:
        """The ``results.json`` content: flat counters, rows found unexpected per rule, then one entry per
        failed expectation. Only what the data decides goes in (no timings, no cache hits), so an
        unchanged corpus gives an identical file."""
        return {
            "success": self.success,
            "rows": self.rows,
            "expectations_evaluated": self.evaluated,
            "expectations_failed": len(self.failures),
            "critical_failed": sum(1 for f in self.failures if f.blocking),
            "errors": sum(1 for f in self.failures if f.error),
            "quarantine": (self.quarantine or Quarantine(self.rows, 0.0)).summary(),
            "unexpected": {c.rule: c.unexpected for c in self.checks},
            "failures": [
                {
                    "rule": f.rule,
                    "expectation": f.expectation,
                    "column": f.column,
                    "severity": f.severity,
                    "ids": f.ids,
                    "description": f.description,
                    "error": f.error,
                }
                for f in self.failures
            ],
        }

    def ids_by_rule(self) -> dict[str, list[str]]:
        """Each failed rule's name and the utterance ids it names."""
        return {f.rule: f.ids for f in self.failures}

    def format_table(self, max_ids: int = MAX_IDS_SHOWN) -> str:
        """A plain-text table naming each failed expectation and its offending utterance ids."""
        report = str(self.docs_dir / "index.html") if self.docs_dir is not None else None
        return format_table(self.summary(), max_ids, report)


def _csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """JSON-encode nested values (e.g. ``translation``) so the CSV cell is parseable."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, (dict, list))).any():
            frame[column] = frame[column].map(
                lambda v: (
                    json.dumps(v, ensure_ascii=False, sort_keys=True) if isinstance(v, (dict, list)) else v
                )
            )
    return frame


def _publish(staging: Path, moves: list[tuple[str, Path]]) -> None:
    """Move each staged output (a name in ``staging``) over its published path; a folder is swapped,
    then the old one removed."""
    for name, target in moves:
        source = staging / name
        if source.is_dir():
            old = staging / f".old-{name}"
            if target.exists():
                target.rename(old)
            target.parent.mkdir(parents=True, exist_ok=True)
            source.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            source.replace(target)


def run_validation(
    manifest_paths: list[Path],
    data_root: Path,
    params: ValidateParams,
    out_dir: Path,
    cache_dir: Path | None = None,
    validated_dir: Path | None = None,
    workers: int | None = None,
    rejected_path: Path | None = None,
    docs_dir: Path | None = None,
) -> ValidationOutcome:
    """Probe and validate every manifest row, write the report into ``out_dir`` and return the verdict.

    ``cache_dir`` keeps probe results between runs (:mod:`components.validation.probe_cache`); with
    ``validated_dir``, a passing run writes the manifests minus the quarantined rows there. With
    ``rejected_path`` (an import's ``rejected.jsonl``; ignored where there is none), the rows the import
    left out are validated too (:mod:`components.validation.imports`), counted among the rows and named
    in the same report; those failing only warning rules count against the quarantine share like any
    other. The data docs go to ``docs_dir`` (default ``out_dir/data_docs``), on the same file system.
    """
    rows = load_manifests(manifest_paths)
    has_rejected = rejected_path is not None and Path(rejected_path).is_file()
    rejected = read_rejected(Path(rejected_path)) if has_rejected else None
    probed, stats = probe_audio(rows, Path(data_root), ProbeCache(cache_dir), workers)
    frame = add_derived_columns(probed)
    out_dir = Path(out_dir)
    docs_dir = Path(docs_dir) if docs_dir is not None else out_dir / DOCS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=".staging-"))
    left_out = rejected_records(rejected or [])
    total = len(rows) + len(left_out)
    try:
        rejected_rows = rejected_frame(rejected) if rejected is not None else None
        result = run_suite(frame, params, docs_dir=staging / DOCS_DIR, rejected=rejected_rows)
        quarantine = decide_quarantine(result.failures, total, params.max_quarantine_share)
        outcome = ValidationOutcome(
            success=result.success and quarantine.within_limit,
            rows=total,
            checks=result.checks,
            failures=result.failures,
            quarantine=quarantine,
            probe=stats,
            out_dir=out_dir,
            docs_dir=docs_dir,
        )
        text = json.dumps(outcome.summary(), indent=2, ensure_ascii=False)
        (staging / RESULTS_FILE).write_text(text + "\n", encoding="utf-8")
        _csv_ready(frame).to_csv(staging / PROBE_FILE, index=False)
        write_quarantine(staging / QUARANTINE_FILE, rows + left_out, quarantine)
        if not (staging / DOCS_DIR / "index.html").is_file():
            raise RuntimeError(f"{staging / DOCS_DIR}: great expectations wrote no data docs index.html")
        names = [PROBE_FILE, QUARANTINE_FILE, DOCS_DIR, RESULTS_FILE]
        _publish(staging, [(name, docs_dir if name == DOCS_DIR else out_dir / name) for name in names])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if validated_dir is not None and outcome.success:
        write_validated(Path(validated_dir), manifest_paths, rows, quarantine)
    return outcome

"""Validate the manifests end to end and write the report the ``validate`` stage publishes.

Outputs in ``out_dir``: ``results.json`` (flat, DVC-metrics friendly), ``data_docs/`` (great-expectations
HTML) and ``probe.csv`` (what the probe measured per utterance). They are built in a temporary folder
beside them and moved into place, so a crash never leaves a half-written report that DVC could cache.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.config import ValidateParams
from components.data.manifest import read_rows
from components.validation.probe import probe_audio
from components.validation.suite import ROW_COLUMN, Failure, add_helper_columns, run_suite

if TYPE_CHECKING:
    import pandas as pd

RESULTS_FILE = "results.json"
PROBE_FILE = "probe.csv"
DOCS_DIR = "data_docs"
MAX_IDS_SHOWN = 20


@dataclass(frozen=True)
class ValidationOutcome:
    """What the stage needs to decide its exit code and tell the user why."""

    success: bool
    rows: int
    evaluated: int
    failures: list[Failure] = field(default_factory=list)
    out_dir: Path | None = None

    def summary(self) -> dict[str, Any]:
        """The ``results.json`` content: flat counters first, then one entry per failed expectation."""
        return {
            "success": self.success,
            "rows": self.rows,
            "expectations_evaluated": self.evaluated,
            "expectations_failed": len(self.failures),
            "critical_failed": sum(1 for f in self.failures if f.blocking),
            "errors": sum(1 for f in self.failures if f.error),
            "failures": [
                {
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

    def format_table(self, max_ids: int = MAX_IDS_SHOWN) -> str:
        """A plain-text table naming each failed expectation and its offending utterance ids."""
        status = "passed" if self.success else "FAILED"
        failed = f"{len(self.failures)} of {self.evaluated} expectations failed"
        head = f"validation {status}: {failed} on {self.rows} rows"
        if self.out_dir is not None:
            head += f" (report: {self.out_dir / DOCS_DIR / 'index.html'})"
        if not self.failures:
            return head
        table = [("severity", "expectation", "column", "offending ids")]
        table += [(_kind(f), f.expectation, f.column or "-", _ids_cell(f, max_ids)) for f in self.failures]
        widths = [max(len(row[i]) for row in table) for i in range(3)]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3]
            for row in table
        ]
        return "\n".join([head, *lines])


def _kind(failure: Failure) -> str:
    return "error" if failure.error else failure.severity


def _ids_cell(failure: Failure, max_ids: int) -> str:
    if failure.error:
        return f"could not evaluate: {failure.error.splitlines()[0]}"
    if not failure.ids:
        return failure.description or "-"
    shown = ", ".join(failure.ids[:max_ids])
    more = len(failure.ids) - max_ids
    return shown + (f" (+{more} more)" if more > 0 else "")


def load_manifests(manifest_paths: list[Path]) -> list[dict]:
    """All rows of all manifests, each tagged with ``manifest_row`` ("train.jsonl:3") to locate it."""
    rows: list[dict] = []
    for path in map(Path, manifest_paths):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: manifest not found")
        for number, row in enumerate(read_rows(path), start=1):
            if not isinstance(row, dict):
                raise ValueError(f"{path}: row {number} is not a JSON object")
            rows.append({**row, ROW_COLUMN: f"{path.name}:{number}"})
    return rows


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


def _publish(staging: Path, out_dir: Path, names: list[str]) -> None:
    """Move each staged output over its published path; a folder is swapped, then the old one removed."""
    for name in names:
        source, target = staging / name, out_dir / name
        if source.is_dir():
            old = staging / f".old-{name}"
            if target.exists():
                target.rename(old)
            source.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            source.replace(target)


def run_validation(
    manifest_paths: list[Path], data_root: Path, params: ValidateParams, out_dir: Path
) -> ValidationOutcome:
    """Probe and validate every manifest row, write the report into ``out_dir`` and return the verdict."""
    rows = load_manifests(manifest_paths)
    frame = add_helper_columns(probe_audio(rows, Path(data_root)))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=".staging-"))
    try:
        result = run_suite(frame, params, docs_dir=staging / DOCS_DIR)
        outcome = ValidationOutcome(
            success=result.success,
            rows=len(rows),
            evaluated=result.evaluated,
            failures=result.failures,
            out_dir=out_dir,
        )
        text = json.dumps(outcome.summary(), indent=2, ensure_ascii=False)
        (staging / RESULTS_FILE).write_text(text + "\n", encoding="utf-8")
        _csv_ready(frame).to_csv(staging / PROBE_FILE, index=False)
        if not (staging / DOCS_DIR / "index.html").is_file():
            raise RuntimeError(f"{staging / DOCS_DIR}: great expectations wrote no data docs index.html")
        _publish(staging, out_dir, [PROBE_FILE, DOCS_DIR, RESULTS_FILE])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return outcome

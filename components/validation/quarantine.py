"""The quarantine policy: a row that fails only warning rules is dropped, not fatal, up to a share.

A few unusable rows (a corrupt file, an empty transcript) should not stop a retrain, but many of them
mean the corpus or its import is broken, so beyond ``validate.max_quarantine_share`` validation fails.
The kept rows are written as ``data/validated/{split}.jsonl``, the manifests every later stage reads,
and the dropped ones as ``quarantine.jsonl`` in the report, each with the rules it failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.atomic import atomic_directory
from components.data.manifest import write_rows
from components.validation.manifests import ROW_COLUMN, source_row
from components.validation.suite import Failure

QUARANTINE_FILE = "quarantine.jsonl"
RULES_KEY = "quarantine_rules"


@dataclass(frozen=True)
class Quarantine:
    """The rows to drop, by manifest row ("train.jsonl:3"), with the warning rules each failed."""

    total_rows: int
    max_share: float
    rules: dict[str, list[str]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.rules)

    @property
    def share(self) -> float:
        return self.count / self.total_rows if self.total_rows else 0.0

    @property
    def within_limit(self) -> bool:
        return self.share <= self.max_share

    def summary(self) -> dict[str, Any]:
        return {
            "rows": self.count,
            "share": round(self.share, 6),
            "max_share": self.max_share,
            "within_limit": self.within_limit,
        }


def decide_quarantine(failures: Iterable[Failure], total_rows: int, max_share: float) -> Quarantine:
    """Rows named by non-blocking failures only; a row that also fails a critical rule is not "only
    warnings" (and fails the run anyway), so it is not counted against the share."""
    failures = list(failures)
    critical = {row for f in failures if f.blocking for row in f.rows}
    rules: dict[str, list[str]] = {}
    for failure in failures:
        if failure.blocking:
            continue
        for row in failure.rows:
            if row not in critical:
                rules.setdefault(row, []).append(failure.rule)
    return Quarantine(total_rows=total_rows, max_share=max_share, rules=rules)


def write_quarantine(path: Path, rows: list[dict[str, Any]], quarantine: Quarantine) -> None:
    """The dropped rows as they were in the manifest, plus where they were and why they were dropped."""
    lines = [
        json.dumps(
            {**source_row(row), ROW_COLUMN: row[ROW_COLUMN], RULES_KEY: quarantine.rules[row[ROW_COLUMN]]},
            ensure_ascii=False,
            sort_keys=True,
        )
        for row in rows
        if row[ROW_COLUMN] in quarantine.rules
    ]
    Path(path).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def write_validated(
    validated_dir: Path, manifest_paths: list[Path], rows: list[dict[str, Any]], quarantine: Quarantine
) -> None:
    """One manifest per input manifest (same file name), minus the quarantined rows; all or nothing."""
    names = [Path(p).name for p in manifest_paths]
    kept: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for row in rows:
        if row[ROW_COLUMN] not in quarantine.rules:
            kept[row[ROW_COLUMN].rsplit(":", 1)[0]].append(source_row(row))
    with atomic_directory(validated_dir) as staging:
        for name in names:
            write_rows(staging / name, kept[name])

"""What a stage run records about itself, kept out of its DVC outputs: wall-clock seconds and cache use.

A stage's metrics file is a DVC output: two runs of one commit must give the same bytes (``dvc.lock``
hashes them, and ``speechalign reproduce`` compares them), and neither seconds nor a cache's hit counts
repeat (the encoder-state cache reuses what earlier runs of the workspace left). So each stage moves
those keys out of the summary it writes and into ``reports/run_records/<stage>.json``, which DVC does
not track and git ignores; the registry logs them to MLflow as ``run_record.<stage>.<key>``. The retrain
flow clears the folder before DVC runs, so a record is always of the stage run it sits beside.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from components.atomic import write_json
from components.workspace import RUN_RECORDS_DIR, VALIDATION_DOCS_DIR


def split_record(summary: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """Remove each dotted ``key`` (``"text.torch_seconds"``: key ``torch_seconds`` of ``summary["text"]``)
    from ``summary`` and return them by that dotted name; a key the summary lacks is skipped."""
    record: dict[str, Any] = {}
    for key in keys:
        *parents, leaf = key.split(".")
        holder: Any = summary
        for parent in parents:
            holder = holder.get(parent) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and leaf in holder:
            record[key] = holder.pop(leaf)
    return record


def write_run_record(stage: str, record: dict[str, Any], workspace: Path = Path(".")) -> Path:
    """``record`` to ``reports/run_records/<stage>.json`` in ``workspace``, atomically."""
    path = Path(workspace) / RUN_RECORDS_DIR / f"{stage}.json"
    write_json(path, record)
    return path


def clear_run_records(workspace: Path = Path(".")) -> None:
    """Remove the records of earlier runs (stage records and the validation's data docs), so a stage
    that DVC skips this time leaves none behind to pass for this run's."""
    for folder in (RUN_RECORDS_DIR, VALIDATION_DOCS_DIR):
        shutil.rmtree(Path(workspace) / folder, ignore_errors=True)

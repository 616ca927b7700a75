"""Wall-clock timings of the stages, kept out of their DVC outputs.

A stage's metrics file is a DVC output: two runs of one commit must give the same bytes (``dvc.lock``
hashes them), and seconds never repeat. So each stage moves its timings out of the summary it writes
and into ``reports/timings/<stage>.json``, which DVC does not track and git ignores; the registry logs
them to MLflow as ``timings.<stage>.<key>`` beside the metrics.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from components.atomic import write_json
from components.workspace import TIMINGS_DIR


def pop_timings(summary: dict[str, Any], keys: Iterable[str]) -> dict[str, float]:
    """Remove each dotted ``key`` (``"text.torch_seconds"``: key ``torch_seconds`` of ``summary["text"]``)
    from ``summary`` and return them by that dotted name; a key the summary lacks is skipped."""
    timings: dict[str, float] = {}
    for key in keys:
        *parents, leaf = key.split(".")
        holder: Any = summary
        for parent in parents:
            holder = holder.get(parent) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and leaf in holder:
            timings[key] = holder.pop(leaf)
    return timings


def write_timings(stage: str, timings: dict[str, float], workspace: Path = Path(".")) -> Path:
    """``timings`` (seconds by name) to ``reports/timings/<stage>.json`` in ``workspace``, atomically."""
    path = Path(workspace) / TIMINGS_DIR / f"{stage}.json"
    write_json(path, timings)
    return path

"""What a retrain's MLflow run logs as metrics: every number of the stage metrics files and run records,
under names MLflow accepts, and the training curve as metric histories."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from components.workspace import METRICS_DIR, RUN_RECORDS_DIR


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts → ``a.b.c`` keys (lists are left out: they are not scalars)."""
    flat: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            flat.update(flatten(value, f"{prefix}{key}."))
    elif not isinstance(data, list):
        flat[prefix[:-1]] = data
    return flat


def metric_name(key: str) -> str:
    """``key`` as MLflow accepts a metric name: characters outside letters, digits, ``_ - . / :`` and
    space become ``_``, and it is cut to 250 characters (MLflow's limits)."""
    return re.sub(r"[^\w.\- :/]", "_", key)[:250]


def numeric_metrics(workspace: Path) -> dict[str, float]:
    """Every number in the stage metrics files, named ``<file>.<path>``, and in the stage run records
    (:mod:`components.run_records`), named ``run_record.<stage>.<key>`` (see :func:`metric_name`); of names
    that come out the same, the first in file and key order is kept."""
    metrics: dict[str, float] = {}
    files = [(path.stem, path) for path in sorted((Path(workspace) / METRICS_DIR).glob("*.json"))]
    records = sorted((Path(workspace) / RUN_RECORDS_DIR).glob("*.json"))
    files += [(f"run_record.{path.stem}", path) for path in records]
    for prefix, path in files:
        for key, value in flatten(json.loads(path.read_text(encoding="utf-8"))).items():
            if (
                isinstance(value, bool)
                or isinstance(value, (int, float))
                and value == value
                and abs(value) != float("inf")
            ):
                metrics.setdefault(metric_name(f"{prefix}.{key}"), float(value))
    return metrics


def log_training_curve(client: Any, run_id: str, workspace: Path) -> None:
    """The per-step training loss and learning rate as MLflow metric histories."""
    from mlflow.entities import Metric

    path = Path(workspace) / METRICS_DIR / "train_loss.csv"
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    series = [
        Metric(key, float(row[column]), 0, int(row["step"]))
        for row in rows
        for key, column in (("train.loss", "loss"), ("train.lr", "lr"))
    ]
    for start in range(0, len(series), 1000):
        client.log_batch(run_id, metrics=series[start : start + 1000])

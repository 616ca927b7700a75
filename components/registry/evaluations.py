"""A registered version scored again on the workspace's current data, logged to that version's run.

The evaluation itself is the evaluate stage's (:func:`components.stages.evaluate.evaluate`); this
module names the version, the data it was scored on, and where the result goes: metrics
``evaluation.<data>.<key>``, the reports under ``evaluations/<data>/`` in the run, and a version tag
``evaluation.<data>`` with the time, where ``<data>`` is the first 12 hex digits of the ``dvc.lock``
hash of the validated manifests.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from components.registry.lineage import LOCK_FILE, stage_hashes
from components.workspace import VALIDATED_DIR


class EvaluationError(RuntimeError):
    """The version or the data to score it on cannot be found; the message says which."""


def parse_model(model: str, name: str) -> tuple[str, str | None, str | None]:
    """``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, or a bare ``ALIAS`` / ``VERSION`` of ``name``
    → (name, version, alias), exactly one of version and alias set.

    Raises:
        EvaluationError: anything else.
    """
    reference = model.removeprefix("models:/")
    if reference != model:
        if "@" in reference:
            named, _, alias = reference.partition("@")
            return named, None, alias
        named, _, version = reference.partition("/")
        if named and version.isdigit():
            return named, version, None
        raise EvaluationError(f"--model {model!r}: expected models:/NAME@ALIAS or models:/NAME/VERSION")
    return (name, model, None) if model.isdigit() else (name, None, model)


def find_model_version(client: Any, model: str, name: str) -> Any:
    """The registered version ``model`` names (see :func:`parse_model`).

    Raises:
        EvaluationError: no such model, version or alias.
    """
    from mlflow.exceptions import MlflowException

    named, version, alias = parse_model(model, name)
    try:
        if alias is not None:
            return client.get_model_version_by_alias(named, alias)
        return client.get_model_version(named, version)
    except MlflowException as exc:
        what = f"alias {alias!r}" if alias is not None else f"version {version}"
        raise EvaluationError(f"{named} has no {what} ({exc.error_code}); see `speechalign models`") from None


def data_key(workspace: Path) -> str:
    """The first 12 hex digits of the ``dvc.lock`` hash of the validated manifests: the data scored.

    Raises:
        EvaluationError: the pipeline has not validated any data in this workspace.
    """
    lock_path = Path(workspace) / LOCK_FILE
    lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) if lock_path.is_file() else None
    md5 = stage_hashes(lock or {}).get("validate", {}).get("outs", {}).get(VALIDATED_DIR.as_posix())
    if md5:
        return md5[:12]
    raise EvaluationError(f"{workspace}: no validated data in {LOCK_FILE}; run `speechalign retrain` first")


def log_evaluation(client: Any, version: Any, metrics: dict[str, Any], reports: Path, data: str) -> int:
    """Log ``metrics`` (numbers only) and the ``reports`` folder to ``version``'s run, and tag the
    version; returns how many metrics were logged."""
    from components.registry.run_metrics import flatten, metric_name

    numbers = {
        metric_name(f"evaluation.{data}.{key}"): float(value)
        for key, value in flatten(metrics).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    stamp = int(time.time() * 1000)
    for key, value in numbers.items():
        client.log_metric(version.run_id, key, value, timestamp=stamp)
    client.log_artifacts(version.run_id, str(reports), artifact_path=f"evaluations/{data}")
    client.set_model_version_tag(
        version.name,
        str(version.version),
        f"evaluation.{data}",
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    return len(numbers)

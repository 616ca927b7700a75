"""Prefect flows ``promote`` and ``rollback``: move the ``champion`` alias through the gates, or back.

Orchestration only: the gates live in ``components/registry/gates.py``, the registry moves in
``components/registry/promotion.py``; MLflow holds the aliases and the recorded decisions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from components.config import load_params
from components.registry.mlflow_registry import configure
from components.registry.promotion import Outcome
from components.registry.promotion import promote as promote_version
from components.registry.promotion import rollback as rollback_champion
from components.workspace_lock import workspace_lock
from flows import expected_failures

expected_failures.install()


def _client(workspace: str) -> tuple[Any, Any]:
    from mlflow import MlflowClient

    params = load_params(Path(workspace) / "params.yaml")
    configure(Path(workspace), params.registry.experiment)
    return MlflowClient(), params


def _report(title: str, outcome: Outcome) -> dict[str, Any]:
    lines = [f"# {title}", "", outcome.message]
    if outcome.decision is not None:
        lines += ["", "| gate | result | detail |", "|---|---|---|"]
        for check in outcome.decision.checks:
            lines.append(f"| {check.name} | {'pass' if check.passed else '**fail**'} | {check.detail} |")
    create_markdown_artifact("\n".join(lines), key=title)
    return {
        "version": outcome.version,
        "champion_before": outcome.champion_before,
        "champion_after": outcome.champion_after,
        "promoted": outcome.promoted,
        "message": outcome.message,
    }


@flow(name="promote", log_prints=True)
def promote(workspace: str = ".", version: str | None = None, wait_s: float = 0.0) -> dict[str, Any]:
    """Judge ``version`` (default: the challenger) against the champion on the same test queries and
    move ``champion`` only if every gate in ``registry.promotion`` passes; the decision is recorded on
    the version either way. Holds the workspace's lock, as a retrain does."""
    with workspace_lock(Path(workspace), "promote flow", wait_s):
        client, params = _client(workspace)
        outcome = promote_version(client, params, version)
    print(outcome.message)
    return _report("promotion", outcome)


@flow(name="rollback", log_prints=True)
def rollback(workspace: str = ".", wait_s: float = 0.0) -> dict[str, Any]:
    """Move ``champion`` back to the version the current champion replaced, recorded on both."""
    with workspace_lock(Path(workspace), "rollback flow", wait_s):
        client, params = _client(workspace)
        outcome = rollback_champion(client, params)
    print(outcome.message)
    return _report("rollback", outcome)

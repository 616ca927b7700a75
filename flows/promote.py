"""Prefect flows ``promote`` and ``rollback``: move the ``champion`` alias through the gates, or back.

Orchestration only: the gates live in ``components/registry/gates.py``, the registry moves in
``components/registry/promotion.py``; MLflow holds the aliases and the recorded decisions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import Field

from components.registry.gates import Check, Decision
from components.registry.mlflow_registry import registry_client
from components.registry.promotion import Outcome
from components.registry.promotion import promote as promote_version
from components.registry.promotion import rollback as rollback_champion
from components.workspace_lock import workspace_lock
from flows import expected_failures

expected_failures.install()


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


class Approval(RunInput):
    """A person's answer to a promotion the gates passed (the form Prefect's UI shows)."""

    approve: bool
    reviewer: str = Field(min_length=1)
    reason: str = ""


def ask_a_person(timeout_s: float) -> Callable[[str, Decision], Check]:
    """An approver that pauses this flow run until someone answers :class:`Approval` (in the UI, or
    ``resume_flow_run(id, run_input=...)``) or ``timeout_s`` seconds pass, which is a refusal."""

    def approve(what: str, decision: Decision) -> Check:
        print(f"waiting up to {timeout_s:g} s for a person to approve {what}: {decision.summary()}")
        try:
            answer = pause_flow_run(wait_for_input=Approval, timeout=int(timeout_s), poll_interval=2)
        except FlowPauseTimeout:
            return Check("approval", False, f"no answer within {timeout_s:g} s")
        said = f"{answer.reviewer}: {answer.reason}" if answer.reason else answer.reviewer
        return Check("approval", answer.approve, said)

    return approve


@flow(name="promote", log_prints=True)
def promote(
    workspace: str = ".",
    version: str | None = None,
    wait_s: float = 0.0,
    approval_timeout_s: float | None = None,
) -> dict[str, Any]:
    """Judge ``version`` (default: the challenger) against the champion on the same test queries and
    move ``champion`` only if every gate in ``registry.promotion`` passes and, with
    ``approval_timeout_s``, a person approves within that many seconds; the decision is recorded on
    the version either way. Holds the workspace's lock, as a retrain does (while it waits too)."""
    approver = ask_a_person(approval_timeout_s) if approval_timeout_s else None
    with workspace_lock(Path(workspace), "promote flow", wait_s):
        client, params = registry_client(Path(workspace))
        outcome = promote_version(client, params, version, approver)
    print(outcome.message)
    return _report("promotion", outcome)


@flow(name="rollback", log_prints=True)
def rollback(workspace: str = ".", wait_s: float = 0.0) -> dict[str, Any]:
    """Move ``champion`` back to the version the current champion replaced, recorded on both."""
    with workspace_lock(Path(workspace), "rollback flow", wait_s):
        client, params = registry_client(Path(workspace))
        outcome = rollback_champion(client, params)
    print(outcome.message)
    return _report("rollback", outcome)

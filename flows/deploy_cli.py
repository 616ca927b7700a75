"""``speechalign deploy`` and ``speechalign worker``: the scheduled path on a real Prefect server."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from flows.command_line import Workspace, fail
from flows.deployments import DEFAULT_POOL

Pool = Annotated[str, typer.Option(help="The Prefect work pool (process type; created if missing).")]


def deploy(
    workspace: Workspace = Path("."),
    pool: Pool = DEFAULT_POOL,
    label: Annotated[
        str | None,
        typer.Option(help="Suffix for the deployment names, to deploy a second workspace on one server."),
    ] = None,
) -> None:
    """Register prefect.yaml's deployments (nightly retrain, promote after each retrain, rollback) for
    WORKSPACE on the Prefect server at PREFECT_API_URL."""
    from flows.deployments import DeployError, deploy_workspace

    workspace = workspace.resolve()
    if not (workspace / "params.yaml").is_file() or not (workspace / "flows").is_dir():
        fail(f"{workspace}: not a pipeline workspace (needs params.yaml and the flows/ code)")
    try:
        deployed = deploy_workspace(workspace, pool, label)
    except DeployError as exc:
        fail(str(exc))
    except Exception as exc:  # the server refused or cannot be reached: say which, without a traceback
        fail(f"deploy to {os.environ['PREFECT_API_URL']}: {type(exc).__name__}: {exc}")
    for item in deployed:
        when = f"cron {', '.join(item.schedules)}" if item.schedules else "on demand"
        if item.triggers:
            when += f", {item.triggers} trigger(s)"
        typer.echo(f"deployed {item.name} ({when}) id {item.deployment_id}")
    typer.echo(f"next: `speechalign worker --pool {pool}` on a machine that holds {workspace}")


def worker(
    pool: Pool = DEFAULT_POOL,
    limit: Annotated[int | None, typer.Option(help="Flow runs this worker runs at once.")] = None,
) -> None:
    """Start a Prefect process worker for POOL (runs until stopped; needs PREFECT_API_URL)."""
    from flows.deployments import DeployError, api_url

    try:
        api_url()
    except DeployError as exc:
        fail(str(exc))
    command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"]
    if limit is not None:
        command += ["--limit", str(limit)]
    sys.stdout.flush()
    os.execv(sys.executable, command)  # the worker is this process: stop it by this pid

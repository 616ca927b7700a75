"""``speechalign reproduce VERSION``: rebuild a registered version from its commit and compare."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from components.workspace import STATE_DIR
from flows.command_line import Workspace, fail
from flows.environment import apply_local_defaults


def reproduce(
    version: Annotated[
        str, typer.Argument(help="A version number or alias of registry.model_name, or models:/…")
    ],
    workspace: Workspace = Path("."),
    into: Annotated[
        Path | None, typer.Option(help="Where to rebuild (default .speechalign/reproduce/NAME-vN).")
    ] = None,
) -> None:
    """Clone the workspace at VERSION's git commit, re-run every stage from scratch (dvc repro --force)
    and compare each output's hash with the one the version was registered with. Exit 0 when every
    output (data, models, metrics, reports) is bit-identical, 3 when any differs."""
    workspace = workspace.resolve()
    apply_local_defaults(workspace)
    from mlflow.exceptions import MlflowException

    from components.config import ParamsError
    from components.registry.evaluations import EvaluationError, find_model_version
    from components.registry.mlflow_registry import registry_client
    from components.registry.reproduction import (
        ReproductionError,
        checkout_version,
        compare_outputs,
        version_commit,
    )
    from components.stages.pipeline import StageFailed, run_dvc

    try:
        client, params = registry_client(workspace)
        found = find_model_version(client, version, params.registry.model_name)
        commit = version_commit(found)
        target = (into or workspace / STATE_DIR / "reproduce" / f"{found.name}-v{found.version}").resolve()
        checkout_version(workspace, commit, target)
    except (ParamsError, EvaluationError, ReproductionError) as exc:
        fail(str(exc))
    except MlflowException as exc:
        fail(f"registry: {exc.message.splitlines()[0]}")
    if (found.tags or {}).get("git_dirty") == "true":
        typer.echo(f"warning: version {found.version} was built from uncommitted changes; expect differences")
    typer.echo(f"{found.name} version {found.version}: commit {commit[:12]} checked out in {target}")
    apply_local_defaults(workspace, runs_flows=True)  # a fanned-out targets stage starts Prefect flows
    start = time.perf_counter()
    timeout = params.registry.stage_timeout_s * 8  # the whole pipeline, each stage within its own limit
    try:
        run_dvc(["repro", "--force"], "reproduce", target, timeout, echo=True)
    except StageFailed as exc:
        fail(f"{exc} (in {target})")
    checks = compare_outputs(found.tags or {}, target / "dvc.lock")
    for check in checks:
        if check.same:
            mark = "same"
        else:
            mark = f"DIFFERS: registered {check.recorded[:12]}, rebuilt {check.rebuilt[:12] or 'none'}"
        typer.echo(f"  {check.stage:<10} {check.path:<34} {mark}")
    broken = [c for c in checks if not c.same]
    seconds = time.perf_counter() - start
    typer.echo(
        f"rebuilt in {seconds:.0f} s: {len(checks) - len(broken)} of {len(checks)} outputs are"
        f" bit-identical to version {found.version}'s"
    )
    if broken or not checks:
        raise typer.Exit(code=3)

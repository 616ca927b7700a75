"""``speechalign evaluate --model``: a registered version scored on the workspace's current test split."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from components.workspace import STATE_DIR
from flows.command_line import Workspace, fail
from flows.environment import apply_local_defaults

EVALUATIONS = Path(STATE_DIR) / "evaluations"  # outside DVC's outputs: a re-score changes no stage


def evaluate(
    model: Annotated[
        str,
        typer.Option(help="models:/NAME@ALIAS, models:/NAME/VERSION, or an alias or version number."),
    ],
    workspace: Workspace = Path("."),
) -> None:
    """Score a registered version on this workspace's current test split with the evaluate stage's own
    code, and log the result to that version's run, so two versions are compared on the same data."""
    workspace = workspace.resolve()
    apply_local_defaults(workspace)
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    from components.compute import precision_scope
    from components.config import ParamsError
    from components.registry.evaluations import EvaluationError, data_key, find_model_version, log_evaluation
    from components.registry.mlflow_registry import registry_client
    from components.seeding import seed_everything
    from components.stages.evaluate import EvalOutputs
    from components.stages.evaluate import evaluate as score_version

    try:
        client, params = registry_client(workspace)
        version = find_model_version(client, model, params.registry.model_name)
        data = data_key(workspace)
    except (ParamsError, EvaluationError) as exc:
        fail(str(exc))
    except MlflowException as exc:
        fail(f"registry at {mlflow.get_tracking_uri()}: {exc.message.splitlines()[0]}")
    loaded = mlflow.pyfunc.load_model(f"models:/{version.name}/{version.version}")
    trained = loaded.unwrap_python_model().model  # the speech-LLM the pyfunc rebuilt from its artifacts
    folder = EVALUATIONS / f"{version.name}-v{version.version}-{data}"
    out = EvalOutputs(folder / "eval.json", folder / "predictions.jsonl", folder / "transfer.md")
    os.chdir(workspace)  # the stage's paths are the workspace's
    seed_everything(params.train.seed)
    try:
        with precision_scope(params.evaluate.precision):
            metrics = score_version(params, trained, out)
    except (ValueError, FileNotFoundError) as exc:
        fail(f"evaluate {version.name} version {version.version}: {exc}")
    logged = log_evaluation(client, version, metrics, folder, data)
    typer.echo(
        f"{version.name} version {version.version} scored on data {data} ({params.evaluate.split} split):"
        f" {logged} metrics logged to run {version.run_id} as evaluation.{data}.*; reports in"
        f" {workspace / folder}"
    )

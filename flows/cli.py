"""The ``speechalign`` command line: retrain, list models, show lineage, predict, import data."""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from components.config import RECIPES
from flows.checkpoints_cli import checkpoints_app
from flows.command_line import Workspace, fail
from flows.data_cli import data_app
from flows.deploy_cli import deploy, worker
from flows.environment import apply_local_defaults
from flows.evaluate_cli import evaluate
from flows.real_demo_cli import real_demo
from flows.reproduce_cli import reproduce

app = typer.Typer(help="speechalign: teach a frozen text LLM to understand speech.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(checkpoints_app, name="checkpoints")
app.command("real-demo")(real_demo)
app.command()(deploy)
app.command()(worker)
app.command()(evaluate)
app.command()(reproduce)

ROW_PREFIX = re.compile(r"^row 0( \([^)]*\))?: ")  # how the model names the one row `predict` sends
KEY_METRICS = {
    "CER speech": "eval.asr.speech.all.cer",
    "CER shuffled": "eval.asr.shuffled.all.cer",
    "CER text": "eval.asr.text.all.cer",
    "chrF speech": "eval.st.speech.all.chrf",
    "intent speech": "eval.intent.speech.all.accuracy",
    "ONNX max|Δ|": "export.max_abs_diff",
}


def registry(workspace: Path) -> tuple[object, str]:
    """MLflow client and the model name from params.yaml; a missing or bad params.yaml is one line."""
    from components.config import ParamsError
    from components.registry.mlflow_registry import registry_client

    try:
        client, params = registry_client(workspace)
    except ParamsError as exc:
        fail(str(exc))
    return client, params.registry.model_name


@app.command()
def retrain(
    workspace: Workspace = Path("."),
    recipe: Annotated[
        str | None,
        typer.Option(help=f"Apply this recipe's preset to params.yaml first: {', '.join(RECIPES)}."),
    ] = None,
    stage_timeout: Annotated[float | None, typer.Option(help="Seconds each stage may run.")] = None,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for another retrain of this workspace to finish.")
    ] = 0.0,
) -> None:
    """Run the pipeline as a Prefect flow and register a new model version if anything changed."""
    if recipe is not None and recipe not in RECIPES:
        fail(f"--recipe {recipe!r} is not a recipe; choose from {', '.join(RECIPES)}")
    workspace = workspace.resolve()
    if not (workspace / "params.yaml").is_file():  # before the lock and Prefect's home are made there
        fail(f"{workspace / 'params.yaml'}: file not found")
    apply_local_defaults(workspace, runs_flows=True)
    from components.config import ParamsError, load_params
    from components.data.importers import CorpusError
    from components.recipes.presets import apply_recipe
    from components.registry.versions import RegistryError
    from components.stages.pipeline import StageFailed
    from components.workspace_lock import WorkspaceBusy, workspace_lock

    start = time.perf_counter()
    with contextlib.ExitStack() as held:
        try:
            # held from the first edit of params.yaml to the registration
            held.enter_context(workspace_lock(workspace, "retrain", wait))
            if recipe is not None:
                apply_recipe(workspace / "params.yaml", recipe)
                typer.echo(f"params.yaml: recipe {recipe} (targets and train set from its preset)")
            load_params(workspace / "params.yaml")
        except (ParamsError, WorkspaceBusy) as exc:
            fail(str(exc))
        from flows.retrain import retrain as retrain_flow

        try:
            result = retrain_flow(workspace=str(workspace), stage_timeout_s=stage_timeout)
        except StageFailed as exc:
            fail(f"{exc}; nothing was registered")
        except RegistryError as exc:
            fail(f"{exc}; run `speechalign retrain` again once it answers: it completes what is unfinished")
        except CorpusError as exc:
            fail(f"prepare.corpus: {exc}; no stage ran and nothing was registered")
    ran = result["stages_run"]
    typer.echo("")
    typer.echo(f"stages run: {', '.join(ran) if ran else 'none (every stage was up to date)'}")
    typer.echo(result["registration"]["message"])
    typer.echo(f"retrain finished in {time.perf_counter() - start:.1f} s")


def decision(tags: dict[str, str]) -> str:
    """The last promotion or rollback recorded on a version, in a few words."""
    if "rollback.to" in tags:
        return f"rolled back to {tags['rollback.to']}"
    if "promotion.decision" in tags:
        return f"{tags['promotion.decision']} (vs {tags.get('promotion.champion_before', 'none')})"
    return "-"


@app.command()
def models(workspace: Workspace = Path(".")) -> None:
    """Registered versions with their aliases and key metrics."""
    from rich.console import Console
    from rich.table import Table

    workspace = workspace.resolve()
    apply_local_defaults(workspace)
    client, name = registry(workspace)
    from mlflow.exceptions import MlflowException

    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException:
        fail(f"no model named {name!r} is registered yet; run `speechalign retrain` first")
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    table = Table(title=f"{name}")
    for column in ("version", "aliases", "recipe", "created", "promotion", *KEY_METRICS):
        table.add_column(column, no_wrap=True)
    versions = sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
    for version in versions:
        metrics = client.get_run(version.run_id).data.metrics if version.run_id else {}
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(version.creation_timestamp / 1000))
        values = [f"{metrics[key]:.4g}" if key in metrics else "-" for key in KEY_METRICS.values()]
        table.add_row(
            str(version.version),
            ", ".join(sorted(by_version.get(str(version.version), []))) or "-",
            version.tags.get("recipe", "-"),
            created,
            decision(version.tags),
            *values,
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # pipes and CI logs get the whole table, unwrapped
    console.print(table)


@app.command()
def promote(
    version: Annotated[str | None, typer.Argument(help="Version to judge; default: the challenger.")] = None,
    workspace: Workspace = Path("."),
    wait: Annotated[float, typer.Option(help="Seconds to wait for a retrain of this workspace.")] = 0.0,
) -> None:
    """Judge a version against the champion through the gates in params.yaml; promote it if it passes."""
    result = _registry_flow(workspace, "promote", version=version, wait_s=wait)
    typer.echo(result["message"])
    if result["champion_after"] != result["version"]:
        raise typer.Exit(code=2)  # refused: a scheduler must not read this as success


@app.command()
def rollback(
    workspace: Workspace = Path("."),
    wait: Annotated[float, typer.Option(help="Seconds to wait for a retrain of this workspace.")] = 0.0,
) -> None:
    """Move champion back to the version the current champion replaced."""
    typer.echo(_registry_flow(workspace, "rollback", wait_s=wait)["message"])


def _registry_flow(workspace: Path, name: str, **arguments: object) -> dict:
    """Run flow ``name`` of flows/promote.py; bad input and a busy workspace end in one line."""
    from components.config import ParamsError, load_params

    workspace = workspace.resolve()
    try:  # before a flow run is started for nothing: no workspace here, or a broken one
        load_params(workspace / "params.yaml")
    except ParamsError as exc:
        fail(str(exc))
    apply_local_defaults(workspace, runs_flows=True)
    from components.registry.promotion import PromotionError
    from components.registry.versions import RegistryError
    from components.workspace_lock import WorkspaceBusy
    from flows import promote as flows

    try:
        return getattr(flows, name)(workspace=str(workspace), **arguments)
    except (ParamsError, PromotionError, RegistryError, WorkspaceBusy) as exc:
        fail(str(exc))


@app.command()
def lineage(version: str, workspace: Workspace = Path(".")) -> None:
    """The lineage of a model version as JSON: git, DVC hashes, Prefect flow run, MLflow run."""
    import mlflow

    workspace = workspace.resolve()
    apply_local_defaults(workspace)
    client, name = registry(workspace)
    from mlflow.exceptions import MlflowException

    try:
        model_version = client.get_model_version(name, version)
    except MlflowException:
        fail(f"{name} has no version {version!r}; see `speechalign models`")
    recorded = mlflow.artifacts.load_dict(f"runs:/{model_version.run_id}/lineage.json")
    tags = model_version.tags
    document = {
        "model": name,
        "version": model_version.version,
        "aliases": list(model_version.aliases),
        "recipe": tags.get("recipe"),
        "mlflow_run_id": model_version.run_id,
        "prefect_flow_run_id": tags.get("prefect_flow_run_id"),
        **recorded,
    }
    typer.echo(json.dumps(document, indent=2))


@app.command()
def predict(
    audio: Annotated[Path, typer.Argument(help="An audio file (any rate or channel count soundfile reads).")],
    instruction: Annotated[str, typer.Option(help="What the LLM should do with the speech.")],
    model: Annotated[
        str | None, typer.Option(help="MLflow model URI; default models:/NAME@champion, else @challenger.")
    ] = None,
    onnx: Annotated[
        Path | None,
        typer.Option(
            help="An exported directory (models/onnx): answer with onnxruntime alone, no registry, no torch."
        ),
    ] = None,
    workspace: Workspace = Path("."),
) -> None:
    """Answer an instruction about an audio file with a registered model (or an ONNX export)."""
    if not audio.is_file():
        fail(f"{audio}: no such audio file")
    if onnx is not None:
        typer.echo(onnx_answer(onnx, audio, instruction))
        return
    workspace = workspace.resolve()
    apply_local_defaults(workspace)
    import mlflow.pyfunc
    import pandas as pd

    client, name = registry(workspace)
    if model is None:
        from mlflow.exceptions import MlflowException

        for alias in ("champion", "challenger"):
            try:
                client.get_model_version_by_alias(name, alias)
            except MlflowException:
                continue
            model = f"models:/{name}@{alias}"
            break
        else:
            fail(f"{name} has neither a champion nor a challenger alias; pass --model")
    from mlflow.exceptions import MlflowException

    from components.registry.requests import request_columns

    loaded = mlflow.pyfunc.load_model(model)
    try:
        answer = loaded.predict(
            pd.DataFrame({**request_columns(loaded, audio), "instruction": [instruction]})
        )
    except (ValueError, MlflowException) as exc:  # the audio or the instruction, in the model's one line
        said = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        # the model saw bytes, so it names the row; the user gave a file: name that instead
        said = ROW_PREFIX.sub("", said)
        fail(said if str(audio.resolve()) in said else f"{audio}: {said}")  # a path-reading model named it
    typer.echo(answer[0])


def onnx_answer(directory: Path, audio: Path, instruction: str) -> str:
    """The answer of the exported speech → text path, run by onnxruntime; a bad input fails in one line."""
    from components.compute import thread_count
    from components.export.speech_to_text import RuntimeInputError, SpeechToText, load_wave

    try:
        threads = thread_count()  # a bad SPEECHALIGN_THREADS is one line, before a session opens
    except ValueError as exc:
        fail(str(exc))
    try:
        runtime = SpeechToText(directory, threads=threads)
        wave = load_wave(audio, runtime.sampling_rate)
        return runtime.answer(wave, instruction, runtime.config["max_new_tokens"])
    except RuntimeInputError as exc:
        fail(str(exc) if str(audio) in str(exc) or str(directory) in str(exc) else f"{audio}: {exc}")


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="speechalign")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""MLflow: one run per pipeline state with params, metrics, artifacts and lineage; one model version.

A version is registered only for a pipeline state (lineage fingerprint) the registry has not seen,
so re-running an unchanged pipeline registers nothing. The ``challenger`` alias is set only when
the export parity gate holds.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.config import Params
from components.data.manifest import MANIFEST_DIR, SPLITS, manifest_path, read_rows
from components.registry.lineage import Lineage
from components.registry.onnx_model import log_onnx_export, parity_tags
from components.registry.run_metrics import flatten, log_training_curve, numeric_metrics
from components.registry.versions import (
    complete_version,
    create_version,
    find_version,
    is_complete,
    registry_errors,
)
from components.workspace import (
    ADAPTER_DIR,
    BASE_DIR,
    METRICS_DIR,
    ONNX_DIR,
    STATE_DIR,
    VALIDATED_DIR,
    VALIDATION_DIR,
    VALIDATION_DOCS_DIR,
)

PYFUNC_REQUIREMENTS = [
    "torch==2.9.1",
    "torchaudio==2.9.1",
    "transformers==5.23.0",
    "tokenizers==0.23.3",
    "safetensors==0.8.0",
    "soundfile==0.14.0",
    "pydantic>=2.14,<3",
    "pandas>=3.1,<4",
]


@dataclass(frozen=True)
class Registration:
    """What the registry did for this pipeline state."""

    model_name: str
    version: str
    created: bool
    run_id: str
    alias: str | None
    message: str


# the workspace-local stores this process has pointed MLflow at: mlflow.set_tracking_uri exports each
# as MLFLOW_TRACKING_URI, which must not then pass for a production server's address in another workspace
_LOCAL_STORES: set[str] = set()


def tracking_uri(workspace: Path) -> str:
    """``MLFLOW_TRACKING_URI`` when set (production), else SQLite inside the workspace's state folder
    (also when the variable holds another workspace's store, which MLflow exported itself)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri and uri not in _LOCAL_STORES:
        return uri
    state = (Path(workspace) / STATE_DIR).resolve()
    state.mkdir(parents=True, exist_ok=True)
    local = f"sqlite:///{state / 'mlflow.db'}"
    _LOCAL_STORES.add(local)
    return local


def configure(workspace: Path, experiment: str) -> str:
    """Point MLflow at the tracking store and return the experiment id (created on first use)."""
    import mlflow

    uri = tracking_uri(workspace)
    mlflow.set_tracking_uri(uri)
    existing = mlflow.get_experiment_by_name(experiment)
    if existing is not None:
        return existing.experiment_id
    location = None
    if uri.startswith("sqlite:"):
        location = ((Path(workspace) / STATE_DIR).resolve() / "mlartifacts").as_uri()
    return mlflow.create_experiment(experiment, artifact_location=location)


def registry_client(workspace: Path) -> tuple[Any, Params]:
    """An MLflow client on the workspace's tracking store, and the workspace's params.

    Raises:
        ParamsError: ``params.yaml`` is missing or invalid.
    """
    from mlflow import MlflowClient

    from components.config import load_params

    params = load_params(Path(workspace) / "params.yaml")
    configure(Path(workspace), params.registry.experiment)
    return MlflowClient(), params


@dataclass(frozen=True)
class LoggedManifests:
    """A folder of split manifests logged as MLflow dataset inputs, digest = its DVC hash in dvc.lock."""

    folder: Path  # relative to the workspace, as dvc.yaml names the stage output
    stage: str  # the stage that writes it
    name: str  # dataset name prefix: ``{name}-{split}``
    context: str  # input context, formatted with the split


# The validated manifests are what targets, train and evaluate read, so they carry the split's plain
# context; the prepared manifests they were validated from are kept as the split's source.
LOGGED_MANIFESTS = (
    LoggedManifests(VALIDATED_DIR, "validate", "validated", "{split}"),
    LoggedManifests(MANIFEST_DIR, "prepare", "manifest", "source-{split}"),
)
DATASET_COLUMNS = ["id", "audio", "language", "text", "duration_s", "split"]


def manifest_source(workspace: Path, folder: Path = MANIFEST_DIR) -> Any:
    """Where a versioned manifest folder lives: its DVC remote URL (the workspace copy if not pushed)."""
    import dvc.api
    from mlflow.data.dataset_source_registry import get_registered_sources

    try:
        url = dvc.api.get_url(folder.as_posix(), repo=str(workspace))
    except Exception:  # noqa: BLE001 - no remote configured: fall back to the workspace copy
        url = (Path(workspace) / folder).resolve().as_uri()
    if "://" in url and not url.startswith("file:"):
        return url  # s3://, gs://, …: MLflow resolves these unambiguously
    # A local path matches two registered source kinds; name the local-artifact one explicitly.
    local = next(s for s in get_registered_sources() if s.__name__ == "LocalArtifactDatasetSource")
    return local(url)


def log_datasets(workspace: Path, lineage: Lineage) -> None:
    """Each split of the validated manifests (what the later stages read) and of the source manifests
    as an MLflow dataset input, digest = the ``dvc.lock`` hash of the stage output that holds it."""
    import mlflow
    import pandas as pd

    for logged in LOGGED_MANIFESTS:
        digest = lineage.stage_hashes.get(logged.stage, {}).get("outs", {}).get(logged.folder.as_posix(), "")
        source = manifest_source(workspace, logged.folder)
        for split in SPLITS:
            path = Path(workspace) / manifest_path(split, logged.folder)
            rows = read_rows(path) if path.is_file() else []
            if not rows:  # a corpus without this split: nothing was trained or evaluated on it
                continue
            frame = pd.DataFrame(rows)[DATASET_COLUMNS]
            dataset = mlflow.data.from_pandas(
                frame, source=source, name=f"{logged.name}-{split}", digest=digest[:36] or None
            )
            tags = {"dvc_md5": digest, "dvc_path": manifest_path(split, logged.folder).as_posix()}
            mlflow.log_input(dataset, context=logged.context.format(split=split), tags=tags)


def model_artifacts(workspace: Path) -> dict[str, str]:
    """Adapter and ONNX export always; base models when they are local directories (tiny or on disk)."""
    from components.modeling.base_models import read_sources

    workspace = Path(workspace)
    artifacts = {"adapter": str(workspace / ADAPTER_DIR), "onnx": str(workspace / ONNX_DIR)}
    sources = read_sources(workspace / BASE_DIR)
    for key, source in (("encoder", sources.encoder), ("llm", sources.llm)):
        local = Path(source) if Path(source).is_absolute() else workspace / source
        if local.is_dir():
            artifacts[key] = str(local)
    return artifacts


def log_pyfunc(workspace: Path, params: Params) -> Any:
    """Log the model from code (this package's pyfunc module) to the active run; registering it is
    :func:`versions.create_version`'s job."""
    config = {
        "max_new_tokens": params.evaluate.max_new_tokens,
        "too_long": params.validate.audio.too_long,
        **params.registry.serving.model_dump(),
    }
    return log_speech_model(model_artifacts(workspace), config)


def log_speech_model(artifacts: dict[str, str], model_config: dict[str, Any]) -> Any:
    """The pyfunc of :mod:`components.registry.pyfunc_model` with ``artifacts`` (``adapter``, and
    ``encoder``/``llm`` when local) and ``model_config`` (decoding, ``registry.serving`` limits), logged
    to the active run with this package as its code."""
    import mlflow

    from components.registry import pyfunc_model

    return mlflow.pyfunc.log_model(
        name="model",
        python_model=pyfunc_model.__file__,
        signature=pyfunc_model.SIGNATURE,
        artifacts=artifacts,
        code_paths=[str(Path(__file__).resolve().parents[1])],
        pip_requirements=PYFUNC_REQUIREMENTS,
        model_config=model_config,
    )


def log_run(
    workspace: Path,
    params: Params,
    lineage: Lineage,
    tags: dict[str, str],
    experiment_id: str,
    recipe: str,
    export: dict[str, Any],
) -> tuple[str, str, str]:
    """One MLflow run with the version's tags, params, metrics, curves, datasets, lineage, reports, the
    pyfunc model and the ONNX export as a model of its own (its parity figures ``export`` as its tags);
    returns (run id, pyfunc model URI, ONNX model URI)."""
    import mlflow
    from mlflow import MlflowClient

    with mlflow.start_run(experiment_id=experiment_id, run_name=f"retrain-{recipe}") as run:
        mlflow.set_tags(tags)
        mlflow.log_params(flatten(params.model_dump(by_alias=True)))
        mlflow.log_metrics(numeric_metrics(workspace))
        log_training_curve(MlflowClient(), run.info.run_id, workspace)
        log_datasets(workspace, lineage)
        mlflow.log_dict(lineage.to_json(), "lineage.json")
        for relative in (
            "dvc.lock",
            "params.yaml",
            "reports/train_loss.png",
        ):
            if (workspace / relative).is_file():
                parent = Path(relative).parent.as_posix()
                mlflow.log_artifact(
                    str(workspace / relative), artifact_path=None if parent == "." else parent
                )
        mlflow.log_artifacts(str(workspace / METRICS_DIR), artifact_path="metrics")
        # predictions, the transfer report and its figures (per language and condition, intent confusion)
        if (workspace / "reports/eval").is_dir():
            mlflow.log_artifacts(str(workspace / "reports/eval"), artifact_path="reports/eval")
        # the validation report (results.json, probe.csv, quarantine.jsonl) of this data, and its data docs
        mlflow.log_artifacts(str(workspace / VALIDATION_DIR), artifact_path=VALIDATION_DIR.as_posix())
        if (workspace / VALIDATION_DOCS_DIR).is_dir():
            docs = (VALIDATION_DIR / "data_docs").as_posix()  # where runs before the move kept them
            mlflow.log_artifacts(str(workspace / VALIDATION_DOCS_DIR), artifact_path=docs)
        with warnings.catch_warnings():
            # The schema is given explicitly, so MLflow's advice to infer one from hints or examples is moot.
            warnings.filterwarnings("ignore", message=".*(type hint|input example|input_example).*")
            info = log_pyfunc(workspace, params)
            onnx_uri = log_onnx_export(workspace / ONNX_DIR, export)
    return run.info.run_id, info.model_uri, onnx_uri


def register_pipeline_state(
    workspace: Path, params: Params, lineage: Lineage, flow_run_id: str | None, recipe: str = "blsp"
) -> Registration:
    """Log one run and register one version for a new pipeline state; finish a registration of this
    state that was cut off (see :mod:`versions`); say so when the state is registered already.

    Raises:
        RegistryError: the tracking server could not be searched or written after MLflow's retries.
    """
    workspace = Path(workspace)
    # read before the registry is touched: a missing file here is the pipeline's fault, not MLflow's
    export = json.loads((workspace / METRICS_DIR / "export.json").read_text(encoding="utf-8"))
    with registry_errors("registration", tracking_uri(workspace)):
        return _register(workspace, params, lineage, flow_run_id, recipe, export)


def _register(
    workspace: Path,
    params: Params,
    lineage: Lineage,
    flow_run_id: str | None,
    recipe: str,
    export: dict[str, Any],
) -> Registration:
    from mlflow import MlflowClient

    name = params.registry.model_name
    experiment_id = configure(workspace, params.registry.experiment)
    client = MlflowClient()
    existing = find_version(client, name, lineage.fingerprint)
    if existing is not None and is_complete(existing):
        return Registration(
            name,
            existing.version,
            False,
            existing.run_id,
            None,
            f"nothing changed: this pipeline state ({lineage.fingerprint[:12]}) is already "
            f"{name} version {existing.version}; no new version registered",
        )
    if existing is not None:
        alias = params.registry.challenger_alias if existing.tags.get("onnx_parity") == "passed" else None
        complete_version(client, name, existing.version, alias)
        return Registration(
            name,
            existing.version,
            True,
            existing.run_id,
            alias,
            f"completed the interrupted registration of {name} version {existing.version}; "
            + alias_message(alias),
        )
    tags = {
        **lineage.tags(),
        "recipe": recipe,
        "prefect_flow_run_id": flow_run_id or "none",
        "onnx_parity": "passed" if export.get("passed") else "failed",
        **parity_tags(export),
    }
    run_id, model_uri, onnx_uri = log_run(workspace, params, lineage, tags, experiment_id, recipe, export)
    version = str(create_version(model_uri, name, tags | {"onnx_model_uri": onnx_uri}).version)
    alias = params.registry.challenger_alias if export.get("passed") else None
    complete_version(client, name, version, alias)
    message = f"registered {name} version {version}; {alias_message(alias)}"
    return Registration(name, version, True, run_id, alias, message)


def alias_message(alias: str | None) -> str:
    return f"alias '{alias}' set" if alias else "export parity gate failed: no alias set"

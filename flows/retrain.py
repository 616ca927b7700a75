"""Prefect flow ``retrain``: every DVC stage as a task, then lineage, registration and the gate.

Orchestration only: which steps, in what order, with which limits. DVC decides what re-runs;
MLflow holds runs, versions and aliases; the steps themselves live in ``components``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from components.config import load_params
from components.data.importers.snapshot import refresh_snapshot
from components.recipes.presets import apply_recipe
from components.registry.lineage import Lineage, collect_lineage
from components.registry.mlflow_registry import Registration, register_pipeline_state
from components.run_records import clear_run_records
from components.stages.evaluate import TRANSFER_REPORT
from components.stages.pipeline import STAGES, StageRun, push, repro, stages_run
from components.validation.render import render_markdown
from components.validation.report import RESULTS_FILE
from components.workspace import VALIDATION_DIR
from components.workspace_lock import workspace_lock
from flows import expected_failures

expected_failures.install()


@task(name="dvc-repro", cache_policy=NO_CACHE, task_run_name="dvc repro {stage}")
def run_stage(stage: str, workspace: str, timeout_s: float) -> StageRun:
    return repro(stage, Path(workspace), timeout_s)


@task(name="corpus-snapshot", cache_policy=NO_CACHE)
def snapshot_task(workspace: str) -> None:
    """An imported corpus changed in place gets a new ``prepare.corpus.snapshot``, so DVC re-imports it."""
    changed = refresh_snapshot(Path(workspace))
    if changed:
        print(changed)


@task(name="dvc-push", cache_policy=NO_CACHE)
def push_task(workspace: str, timeout_s: float) -> StageRun:
    return push(Path(workspace), timeout_s)


@task(name="collect-lineage", cache_policy=NO_CACHE)
def lineage_task(workspace: str) -> Lineage:
    return collect_lineage(Path(workspace))


@task(name="register-model", cache_policy=NO_CACHE)
def register_task(workspace: str, lineage: Lineage, recipe: str, flow_run_id: str | None) -> Registration:
    params = load_params(Path(workspace) / "params.yaml")
    return register_pipeline_state(Path(workspace), params, lineage, flow_run_id, recipe)


@task(name="validation-report", cache_policy=NO_CACHE)
def validation_report_task(workspace: str) -> None:
    """Attach the validate stage's results.json as a markdown artifact, whether it passed or failed.

    DVC removes a stage's outputs before running it, so a results.json that is there is this run's
    (or, when the stage was up to date, the one DVC restored for the same inputs).
    """
    path = Path(workspace) / VALIDATION_DIR / RESULTS_FILE
    if path.is_file():
        markdown = render_markdown(json.loads(path.read_text(encoding="utf-8")))
    else:
        markdown = f"# Data validation failed\n\nvalidate wrote no {path.name}; see the stage log.\n"
    create_markdown_artifact(markdown, key="validation-report", description="data validation of this run")


@task(name="evaluation-report", cache_policy=NO_CACHE)
def evaluation_report_task(workspace: str) -> None:
    """Attach the evaluate stage's transfer report (every condition, the paired test, how it was
    scored) as a markdown artifact of this flow run."""
    path = Path(workspace) / TRANSFER_REPORT
    create_markdown_artifact(
        f"# Zero-shot evaluation\n\n{path.read_text(encoding='utf-8')}",
        key="evaluation-report",
        description="speech against its controls and the text ceiling, on the test split",
    )


def run_stages(workspace: str, timeout: float) -> list[StageRun]:
    """Every stage in order; the validation report is attached as soon as validate ends, pass or fail,
    and the evaluation report once evaluate has written it."""
    runs = []
    for stage in STAGES:
        try:
            runs.append(run_stage(stage, workspace, timeout))
        finally:
            if stage == "validate":
                validation_report_task(workspace)
        if stage == "evaluate":
            evaluation_report_task(workspace)
    return runs


def summary_markdown(runs: list[StageRun], registration: Registration) -> str:
    lines = ["# retrain", "", "| stage | result | seconds |", "|---|---|---|"]
    ran = set(stages_run(runs))
    lines += [f"| {r.stage} | {'ran' if r.stage in ran else 'up to date'} | {r.seconds} |" for r in runs]
    lines += ["", registration.message]
    return "\n".join(lines)


@flow(name="retrain", log_prints=True)
def retrain(
    workspace: str = ".",
    recipe: str | None = None,
    stage_timeout_s: float | None = None,
    wait_s: float = 0.0,
) -> dict[str, Any]:
    """Refresh an imported corpus's snapshot, run prepare → validate → targets → train → evaluate →
    export, then register what is new; all under the workspace's lock (waiting ``wait_s`` seconds at
    most for another run to release it: see :mod:`components.workspace_lock`).

    ``recipe`` first applies that recipe's preset to ``params.yaml``; either way the version is tagged
    with the recipe ``params.yaml`` names, which is what was run.
    """
    with workspace_lock(Path(workspace), "retrain flow", wait_s):
        return _retrain(workspace, recipe, stage_timeout_s)


def _retrain(workspace: str, recipe: str | None, stage_timeout_s: float | None) -> dict[str, Any]:
    if recipe is not None:
        apply_recipe(Path(workspace) / "params.yaml", recipe)
    snapshot_task(workspace)
    params = load_params(Path(workspace) / "params.yaml")
    timeout = stage_timeout_s or params.registry.stage_timeout_s
    clear_run_records(Path(workspace))  # a stage DVC skips must not leave an earlier run's seconds
    runs = run_stages(workspace, timeout)
    push_task(workspace, timeout)
    lineage = lineage_task(workspace)
    run_id = flow_run.get_id()
    registration = register_task(workspace, lineage, params.recipe, str(run_id) if run_id else None)
    create_markdown_artifact(summary_markdown(runs, registration), key="retrain-summary")
    ran = stages_run(runs)
    return {
        # a stage re-run inside a later stage's repro counts as ran, in both entries
        "stages": [{**r.__dict__, "ran": r.stage in ran} for r in runs],
        "stages_run": ran,
        "registration": registration.__dict__,
        "lineage_fingerprint": lineage.fingerprint,
    }

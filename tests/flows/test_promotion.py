"""promote and rollback through their Prefect flows and the CLI, on real MLflow versions whose runs hold
evaluations: a worse challenger never becomes champion, a better one does, rollback restores, and
every decision is on the version."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_promotion_gates import CLOSE, EXACT, GARBLED, SENTENCES, evidence

REPO = Path(__file__).resolve().parents[2]


def register(
    workspace: Path, outputs: list[str], parity: bool = True, ids=None, name: str = "speechalign"
) -> str:
    import mlflow

    from components.registry.mlflow_registry import configure

    made = evidence("x", outputs, parity=parity, ids=ids)
    experiment = configure(workspace, "speechalign")

    class Model(mlflow.pyfunc.PythonModel):  # what is registered does not matter, only its evaluation
        def predict(self, context, model_input):
            return model_input

    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_dict({"transfer": {"tasks": made.tasks}}, "metrics/eval.json")
        rows = "".join(json.dumps(row) + "\n" for row in made.predictions)
        mlflow.log_text(rows, "reports/eval/predictions.jsonl")
        info = mlflow.pyfunc.log_model(name="model", python_model=Model())
    tags = {"onnx_parity": "passed" if parity else "failed", "recipe": "blsp"}
    version = mlflow.register_model(info.model_uri, name, tags=tags)
    assert version.run_id == run.info.run_id
    return str(version.version)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    yield tmp_path
    mlflow.set_tracking_uri(None)


def invoke(*args: str):
    """A command that runs no flow, in process."""
    from typer.testing import CliRunner

    from flows.cli import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def speechalign(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    """The console script as a user runs it (its own process and Prefect server)."""
    command = [str(Path(sys.executable).parent / "speechalign"), *args, "--workspace", str(workspace)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def test_promote_refuses_worse_accepts_better_and_rollback_restores(prefect_harness, workspace: Path) -> None:
    from mlflow import MlflowClient

    from components.registry.promotion import PromotionError
    from flows.promote import promote, rollback

    first = register(workspace, CLOSE)
    with pytest.raises(PromotionError, match="no 'challenger' version"):
        promote(workspace=str(workspace))  # the challenger alias is not set yet
    result = promote(workspace=str(workspace), version=first)
    assert result["promoted"] and "judged against its own controls (first champion)" in result["message"]
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("speechalign", "champion").version) == first

    worse = register(workspace, GARBLED)
    client.set_registered_model_alias("speechalign", "challenger", worse)
    refused = speechalign(workspace, "promote")  # the challenger, through the CLI
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"version {worse} refused against champion {first}" in refused.stdout
    assert str(client.get_model_version_by_alias("speechalign", "champion").version) == first
    tags = client.get_model_version("speechalign", worse).tags
    assert tags["promotion.decision"] == "refused" and tags["promotion.champion_before"] == first
    assert "asr_cer: FAIL" in tags["promotion.checks"] and "paired_cer: FAIL" in tags["promotion.checks"]
    run = client.get_model_version("speechalign", worse).run_id
    [record] = [a.path for a in client.list_artifacts(run, "promotion")]
    assert not json.loads(Path(client.download_artifacts(run, record)).read_text())["promote"]

    better = register(workspace, EXACT)
    assert promote(workspace=str(workspace), version=better)["promoted"]
    assert str(client.get_model_version_by_alias("speechalign", "champion").version) == better
    assert client.get_model_version("speechalign", better).tags["promotion.champion_before"] == first

    elsewhere = register(workspace, EXACT, ids=[f"other{i}" for i in range(len(SENTENCES))])
    result = promote(workspace=str(workspace), version=elsewhere)
    assert not result["promoted"] and "different test queries" in result["message"]

    listing = invoke("models", "--workspace", str(workspace))
    assert f"promoted (vs {first})" in listing.output and f"refused (vs {first})" in listing.output

    assert rollback(workspace=str(workspace))["champion_after"] == first
    assert str(client.get_model_version_by_alias("speechalign", "champion").version) == first
    assert client.get_model_version("speechalign", better).tags["rollback.to"] == first
    again = speechalign(workspace, "rollback")
    assert again.returncode == 1
    assert again.stderr.strip().splitlines()[-1] == (
        f"speechalign: error: speechalign version {first} was the first champion; there is none before it "
        "to restore"
    )
    assert "Traceback" not in again.stdout + again.stderr
    assert str(client.get_model_version_by_alias("speechalign", "champion").version) == first


def test_a_version_without_parity_never_becomes_the_first_champion(prefect_harness, workspace: Path) -> None:
    from mlflow import MlflowClient

    from flows.promote import promote

    version = register(workspace, EXACT, parity=False)
    result = promote(workspace=str(workspace), version=version)
    assert not result["promoted"] and "onnx_parity: FAIL" in result["message"]
    assert "champion" not in MlflowClient().get_registered_model("speechalign").aliases


def paused_runs() -> set[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    paused = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
    with get_client(sync_client=True) as client:
        return {str(run.id) for run in client.read_flow_runs(flow_run_filter=paused)}


def test_a_promotion_the_gates_pass_waits_for_a_person_and_silence_refuses(
    prefect_harness, workspace: Path
) -> None:
    import threading
    import time

    from mlflow import MlflowClient
    from prefect.flow_runs import resume_flow_run

    from flows.promote import promote

    first = register(workspace, CLOSE)
    assert promote(workspace=str(workspace), version=first)["promoted"]
    better = register(workspace, EXACT)
    # nobody answers: passing gates are not enough, and the silence is recorded as the reason
    silent = promote(workspace=str(workspace), version=better, approval_timeout_s=3)
    assert not silent["promoted"] and "approval: FAIL (no answer within 3 s)" in silent["message"]
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("speechalign", "champion").version) == first

    before, answered = paused_runs(), {}
    waiting = threading.Thread(
        target=lambda: answered.update(
            promote(workspace=str(workspace), version=better, approval_timeout_s=120)
        )
    )
    waiting.start()
    deadline = time.monotonic() + 60
    while not (paused_runs() - before):
        assert time.monotonic() < deadline and waiting.is_alive(), "the promote run never paused for approval"
        time.sleep(0.5)
    [run_id] = paused_runs() - before
    resume_flow_run(run_id, run_input={"approve": True, "reviewer": "ana", "reason": "listened to ten clips"})
    waiting.join(120)
    assert answered["promoted"], answered
    assert str(client.get_model_version_by_alias("speechalign", "champion").version) == better
    checks = client.get_model_version("speechalign", better).tags["promotion.checks"]
    assert "approval: pass (ana: listened to ten clips)" in checks

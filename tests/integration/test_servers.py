"""The scheduled path against real servers: PostgreSQL, ``mlflow server`` on it, ``prefect server``.

``speechalign deploy`` registers prefect.yaml's deployments; the retrain deployment is triggered
through the Prefect API and run by ``speechalign worker``; it registers into MLflow over HTTP; its
completion sets off the promote deployment (the trigger in prefect.yaml); then promote and rollback
run through their deployments on versions whose evidence is known. Every process is stopped by its pid.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.flows.conftest import make_workspace
from tests.flows.test_promotion import register
from tests.integration import servers
from tests.unit.test_promotion_gates import CLOSE, EXACT, GARBLED

POOL = "speechalign-it"
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
QUIET = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "INFO",
    "PREFECT_WORKER_QUERY_SECONDS": "2",  # the worker looks for scheduled runs every 2 s, not 10
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}


def tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else f"({path.name}: none)"


class PrefectApi:
    """The few REST calls the test makes, as an operator's script would: a 5xx or a dropped connection
    is tried again a few times (the test's Prefect server keeps its state in SQLite, which answers
    "database is locked" while the worker and the server's own services write), anything else raises."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        for attempt in range(6):
            try:
                answer = self.http.request(method, path, **kwargs)
            except httpx.TransportError:
                if attempt == 5:
                    raise
            else:
                if answer.status_code < 500 or attempt == 5:
                    answer.raise_for_status()
                    return answer
            time.sleep(1 + attempt)
        raise AssertionError("unreachable")

    def deployment(self, flow: str, name: str) -> dict:
        return self.request("GET", f"/deployments/name/{flow}/{name}").json()

    def run(self, deployment: dict, parameters: dict | None = None) -> str:
        body = {"parameters": parameters} if parameters else {}
        return self.request("POST", f"/deployments/{deployment['id']}/create_flow_run", json=body).json()[
            "id"
        ]

    def runs_of(self, deployment: dict) -> list[dict]:
        query = {"flow_runs": {"deployment_id": {"any_": [deployment["id"]]}}}
        return self.request("POST", "/flow_runs/filter", json=query).json()

    def wait(self, run_id: str, timeout_s: float, log: Path) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = self.request("GET", f"/flow_runs/{run_id}").json()
            if run["state_type"] in TERMINAL:
                return run
            time.sleep(2)
        raise AssertionError(f"flow run {run_id} not finished in {timeout_s:.0f} s:\n{tail(log)}")


@pytest.mark.slow(minutes=6)
def test_deployments_run_through_a_real_prefect_server_into_mlflow_on_postgres(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    logs = tmp_path / "logs"
    logs.mkdir()
    env = {**os.environ, **QUIET}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("PREFECT_API_URL", None)
    workspace = make_workspace(tmp_path / "workspace")
    gates = tmp_path / "gates"  # a second workspace: its own registered model, versions of known quality
    gates.mkdir()
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["registry"]["model_name"] = "speechalign-gates"
    (gates / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    with contextlib.ExitStack() as stack:
        database = stack.enter_context(servers.postgres(logs))
        mlflow_url = stack.enter_context(servers.mlflow_server(database, tmp_path / "artifacts", logs, env))
        api_url = stack.enter_context(servers.prefect_server(tmp_path / "prefect-server", logs, env))
        env.update(
            PREFECT_API_URL=api_url, MLFLOW_TRACKING_URI=mlflow_url, PREFECT_HOME=str(tmp_path / "home")
        )

        deployed = subprocess.run(
            [str(servers.BIN / "speechalign"), "deploy", "--workspace", str(workspace), "--pool", POOL],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "deployed retrain/nightly-retrain (cron 0 3 * * *)" in deployed.stdout
        assert "deployed promote/promote (on demand, 1 trigger(s))" in deployed.stdout

        api = PrefectApi(api_url)
        retrain = api.deployment("retrain", "nightly-retrain")
        assert retrain["parameters"]["workspace"] == str(workspace)
        assert (
            retrain["work_pool_name"] == POOL and retrain["schedules"][0]["schedule"]["cron"] == "0 3 * * *"
        )
        assert retrain["global_concurrency_limit"]["limit"] == 1  # one retrain of the workspace at a time
        promote = api.deployment("promote", "promote")
        rollback = api.deployment("rollback", "rollback")

        stack.enter_context(servers.worker(POOL, logs, env))
        worker_log = logs / "worker.log"
        run = api.wait(api.run(retrain), 900, worker_log)
        assert run["state_type"] == "COMPLETED", tail(worker_log)

        # the registry, over HTTP, on PostgreSQL: the version, complete, with its lineage artifact
        registry = MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)
        version = registry.get_model_version_by_alias("speechalign", "challenger")
        assert version.version == "1" and version.tags["registration"] == "complete"
        assert version.tags["recipe"] == params["recipe"]
        assert "lineage.json" in [a.path for a in registry.list_artifacts(version.run_id)]
        assert registry.get_run(version.run_id).info.artifact_uri.startswith("mlflow-artifacts:")

        # the retrain's completion set off a promote run, which judged version 1 and recorded why
        deadline = time.monotonic() + 300
        while not [r for r in api.runs_of(promote) if r["state_type"] in TERMINAL]:
            assert time.monotonic() < deadline, f"no promote run after the retrain:\n{tail(worker_log)}"
            time.sleep(3)
        triggered = api.runs_of(promote)
        assert len(triggered) == 1, [
            (r["name"], r["state_type"]) for r in triggered
        ]  # one retrain, one promote
        assert triggered[0]["state_type"] == "COMPLETED", tail(worker_log)
        assert registry.get_model_version("speechalign", "1").tags["promotion.decision"] in {
            "promoted",
            "refused",
        }

        # promote and rollback through their deployments, on versions whose quality is known
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_url
        try:
            first, worse, better = (
                register(gates, out, name="speechalign-gates") for out in (CLOSE, GARBLED, EXACT)
            )
        finally:
            os.environ.pop("MLFLOW_TRACKING_URI")
        for target in (first, worse, better):
            done = api.wait(api.run(promote, {"workspace": str(gates), "version": target}), 300, worker_log)
            assert done["state_type"] == "COMPLETED", tail(worker_log)
        assert registry.get_model_version("speechalign-gates", worse).tags["promotion.decision"] == "refused"
        champion = registry.get_model_version_by_alias("speechalign-gates", "champion")
        assert champion.version == better and champion.tags["promotion.champion_before"] == first
        done = api.wait(api.run(rollback, {"workspace": str(gates)}), 300, worker_log)
        assert done["state_type"] == "COMPLETED", tail(worker_log)
        assert registry.get_model_version_by_alias("speechalign-gates", "champion").version == first

    # every server and the worker are stopped by their pids, their process groups with them
    left = [process.args for process in servers.SPAWNED if not servers.gone(process)]
    assert servers.SPAWNED and not left, left
    assert not servers.listening(database) and not servers.listening(mlflow_url)

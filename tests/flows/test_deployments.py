"""``prefect.yaml`` points at real flows with parameters they accept."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_every_deployment_entrypoint_is_a_flow_that_accepts_its_parameters() -> None:
    from prefect import Flow

    config = yaml.safe_load((REPO / "prefect.yaml").read_text())
    assert config["deployments"]
    for deployment in config["deployments"]:
        path, _, name = deployment["entrypoint"].partition(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, name)
        assert isinstance(flow, Flow), deployment["name"]
        accepted = set(inspect.signature(flow.fn).parameters)
        assert set(deployment.get("parameters", {})) <= accepted, deployment["name"]
        for schedule in deployment.get("schedules", []):
            assert len(schedule["cron"].split()) == 5


def test_the_promote_trigger_is_tied_to_this_workspaces_retrain_deployment_by_id() -> None:
    import pytest

    from flows.deployments import DeployError, declared, resolve_triggers

    specs = {spec["name"]: spec for spec in declared()}
    assert specs["nightly-retrain"]["concurrency_limit"] == 1
    [trigger] = resolve_triggers(specs["promote"], {"nightly-retrain": "1234"})
    assert trigger["expect"] == ["prefect.flow-run.Completed"]
    # the name in the file becomes the id it was deployed under: another workspace's retrain cannot fire it
    assert trigger["match_related"] == {
        "prefect.resource.role": "deployment",
        "prefect.resource.id": "prefect.deployment.1234",
    }
    with pytest.raises(DeployError, match="trigger on 'nightly-retrain', which is not declared before it"):
        resolve_triggers(specs["promote"], {})


def test_deploy_and_worker_without_a_prefect_server_say_so_in_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    for command in (["deploy", "--workspace", str(REPO)], ["worker"]):
        done = subprocess.run(
            [str(Path(sys.executable).parent / "speechalign"), *command],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == [
            "speechalign: error: PREFECT_API_URL is not set: start `prefect server start` (or name your"
            " server) and export PREFECT_API_URL=http://HOST:4200/api"
        ]

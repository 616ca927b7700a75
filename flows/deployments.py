"""The deployments declared in ``prefect.yaml``, registered for one workspace on a Prefect server.

``prefect.yaml`` stays the one place the schedules, concurrency limits and triggers are written (it
also works with ``prefect deploy --all``); :func:`deploy_workspace` reads it and registers each
deployment with the workspace as its source, so a process worker runs the flows from the workspace's
own copy of the code, in the workspace, on its own params.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parents[1]
PREFECT_FILE = PROJECT / "prefect.yaml"
DEFAULT_POOL = "speechalign-process"


class DeployError(RuntimeError):
    """The deployments cannot be registered: no Prefect server named, or it refused them."""


@dataclass(frozen=True)
class Deployed:
    name: str  # "<flow>/<deployment>", the name `prefect deployment run` takes
    deployment_id: str
    schedules: list[str]
    triggers: int


def api_url() -> str:
    """``PREFECT_API_URL``: workers and deployments need a real server (there is no ephemeral worker).

    Raises:
        DeployError: it is not set.
    """
    url = os.environ.get("PREFECT_API_URL", "").strip()
    if not url:
        raise DeployError(
            "PREFECT_API_URL is not set: start `prefect server start` (or name your server) and export"
            " PREFECT_API_URL=http://HOST:4200/api"
        )
    return url


def declared(prefect_file: Path = PREFECT_FILE) -> list[dict[str, Any]]:
    """The deployments of ``prefect_file``, in file order (triggers may name earlier ones)."""
    return list(yaml.safe_load(prefect_file.read_text(encoding="utf-8"))["deployments"])


def deployment_name(spec: dict[str, Any], label: str | None) -> str:
    """``spec``'s name, suffixed ``-LABEL`` so two workspaces can be deployed on one server."""
    return f"{spec['name']}-{label}" if label else spec["name"]


def resolve_triggers(spec: dict[str, Any], deployed_ids: dict[str, str]) -> list[dict[str, Any]]:
    """``spec``'s triggers with each related deployment named in the file (``prefect.resource.name``)
    replaced by the id it was registered under, so a label or a second workspace on the same server
    cannot set off another workspace's flow.

    Raises:
        DeployError: a trigger names a deployment that is not declared before it.
    """
    triggers = []
    for trigger in spec.get("triggers") or []:
        trigger = {key: value for key, value in trigger.items() if key != "type"}
        related = dict(trigger.get("match_related") or {})
        if related.get("prefect.resource.role") == "deployment" and "prefect.resource.name" in related:
            named = related.pop("prefect.resource.name")
            if named not in deployed_ids:
                raise DeployError(
                    f"prefect.yaml: deployment {spec['name']!r} has a trigger on {named!r},"
                    " which is not declared before it"
                )
            related["prefect.resource.id"] = f"prefect.deployment.{deployed_ids[named]}"
            trigger["match_related"] = related
        triggers.append(trigger)
    return triggers


def ensure_pool(pool: str) -> None:
    """Create the process work pool ``pool`` with Prefect's default job template, unless it exists."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
        except ObjectNotFound:
            template = ProcessWorker.get_default_base_job_template()
            client.create_work_pool(WorkPoolCreate(name=pool, type="process", base_job_template=template))


def deploy_workspace(
    workspace: Path, pool: str = DEFAULT_POOL, label: str | None = None, prefect_file: Path = PREFECT_FILE
) -> list[Deployed]:
    """Register every deployment of ``prefect_file`` for ``workspace`` on the server at
    ``PREFECT_API_URL``: source and working directory the workspace, its ``workspace`` parameter the
    workspace's absolute path, schedules, concurrency limit and triggers as declared.

    Raises:
        DeployError: no server is named, or a trigger names an undeclared deployment.
    """
    from prefect import Flow
    from prefect.events import DeploymentEventTrigger
    from prefect.schedules import Cron

    api_url()
    workspace = Path(workspace).resolve()
    ensure_pool(pool)
    ids: dict[str, str] = {}
    done = []
    for spec in declared(prefect_file):
        triggers = [DeploymentEventTrigger(**t) for t in resolve_triggers(spec, ids)]
        schedules = [
            Cron(s["cron"], timezone=s.get("timezone"), active=s.get("active", True))
            for s in spec.get("schedules") or []
        ]
        flow = Flow.from_source(source=str(workspace), entrypoint=spec["entrypoint"])
        name = deployment_name(spec, label)
        deployment_id = flow.deploy(
            name=name,
            work_pool_name=pool,
            build=False,
            push=False,
            parameters={**(spec.get("parameters") or {}), "workspace": str(workspace)},
            schedules=schedules,
            concurrency_limit=spec.get("concurrency_limit"),
            triggers=triggers,
            description=spec.get("description"),
            tags=spec.get("tags"),
            enforce_parameter_schema=spec.get("enforce_parameter_schema", True),
            print_next_steps=False,
            ignore_warnings=True,
        )
        ids[spec["name"]] = str(deployment_id)
        done.append(
            Deployed(
                f"{flow.name}/{name}",
                str(deployment_id),
                [s["cron"] for s in spec.get("schedules") or []],
                len(triggers),
            )
        )
    return done

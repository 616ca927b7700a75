"""``infra/`` checked offline: the services, ports and settings the stack wires together agree with what
the code reads; images are pinned; the GPU job template declares every variable it uses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlparse

import yaml

from flows.deployments import DEFAULT_POOL

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"


def compose() -> dict:
    return yaml.safe_load((INFRA / "compose.yaml").read_text(encoding="utf-8"))


def code_reads(name: str) -> bool:
    """The variable is read somewhere in the project's code (or by MLflow / Prefect themselves)."""
    sources = [*REPO.glob("components/**/*.py"), *REPO.glob("flows/**/*.py")]
    return any(name in path.read_text(encoding="utf-8") for path in sources)


def pinned(image: str) -> bool:
    """``name:tag`` with a version in the tag (no ``latest``, no bare name), or a digest."""
    if "@sha256:" in image:
        return True
    _, _, tag = image.rpartition(":")
    return bool(tag) and "/" not in tag and tag != "latest" and bool(re.search(r"\d", tag))


def test_the_stack_has_its_services_and_the_worker_reaches_them_by_name_and_port() -> None:
    services = compose()["services"]
    assert {"postgres", "object-store", "mlflow", "prefect-server", "worker"} <= set(services)
    worker = services["worker"]
    env = worker["environment"]
    for name in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "SPEECHALIGN_CACHE"):
        assert name in env and code_reads(name), name
    prefect = urlparse(env["PREFECT_API_URL"])
    assert prefect.hostname == "prefect-server" and prefect.path == "/api"
    assert ["--port", str(prefect.port)] == services["prefect-server"]["command"][-2:]
    mlflow = urlparse(env["MLFLOW_TRACKING_URI"])
    assert mlflow.hostname == "mlflow"
    command = services["mlflow"]["command"]
    assert command[command.index("--port") + 1] == str(mlflow.port)
    # the worker serves the pool `speechalign deploy` registers the deployments on
    assert worker["command"][-2:] == ["--pool", DEFAULT_POOL]
    assert worker["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_mlflow_runs_with_basic_auth_proxied_artifacts_and_postgres() -> None:
    mlflow = compose()["services"]["mlflow"]
    assert {"--app-name", "basic-auth", "--serve-artifacts"} <= set(mlflow["command"])
    env = mlflow["environment"]
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg://")
    assert env["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://")
    assert urlparse(env["MLFLOW_S3_ENDPOINT_URL"]).hostname == "object-store"
    databases = re.findall(r"CREATE DATABASE (\w+);", (INFRA / "postgres/init.sql").read_text())
    for uri in (env["MLFLOW_BACKEND_STORE_URI"], env["MLFLOW_AUTH_DATABASE_URI"]):
        assert urlparse(uri).path.lstrip("/") in databases
    prefect_db = compose()["services"]["prefect-server"]["environment"][
        "PREFECT_SERVER_DATABASE_CONNECTION_URL"
    ]
    assert urlparse(prefect_db).path.lstrip("/") in databases
    # the psycopg the server image installs is the one the project pins for a PostgreSQL store
    pyproject = (REPO / "pyproject.toml").read_text()
    [driver] = re.findall(r'"(psycopg\[binary\]==[\d.]+)"', (INFRA / "mlflow/Dockerfile").read_text())
    assert f'"{driver}"' in pyproject


def test_every_secret_comes_from_the_env_file_and_every_image_is_pinned() -> None:
    text = (INFRA / "compose.yaml").read_text()
    example = {
        line.split("=")[0] for line in (INFRA / ".env.example").read_text().splitlines() if "=" in line
    }
    assert set(re.findall(r"\$\{(\w+)", text)) <= example
    assert not re.search(r"PASSWORD: [^$\s]", text)  # no literal password anywhere
    images = [service["image"] for service in compose()["services"].values() if "image" in service]
    images += re.findall(r"^FROM (\S+)", (INFRA / "mlflow/Dockerfile").read_text(), re.M)
    images += re.findall(r"^FROM (\S+)", (INFRA / "worker/Dockerfile").read_text(), re.M)
    values = yaml.safe_load((INFRA / "k8s/worker-values.yaml").read_text())["worker"]
    images.append(f"{values['image']['repository']}:{values['image']['prefectTag']}")
    assert images and all(pinned(image) for image in images), images
    assert not pinned("postgres:latest") and not pinned("postgres")


def test_the_gpu_job_template_declares_what_it_uses_and_uses_what_it_declares() -> None:
    template = json.loads((INFRA / "k8s/gpu-job-template.json").read_text())
    used = set(re.findall(r"\{\{ (\w+) \}\}", json.dumps(template["job_configuration"])))
    declared = set(template["variables"]["properties"])
    assert used == declared  # Prefect silently ignores a variable that job_configuration does not name
    container = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "{{ gpu_count }}"
    assert {"mountPath": "/srv/speechalign", "name": "workspace"} in container["volumeMounts"]
    values = yaml.safe_load((INFRA / "k8s/worker-values.yaml").read_text())["worker"]
    assert values["config"]["type"] == "kubernetes"
    documents = yaml.safe_load_all((INFRA / "k8s/workspace.yaml").read_text())
    claims = [doc["metadata"]["name"] for doc in documents if doc]
    properties = template["variables"]["properties"]
    assert {properties["workspace_claim"]["default"], properties["cache_claim"]["default"]} <= set(claims)

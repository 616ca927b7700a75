"""The production services as subprocesses on 127.0.0.1 for one test: a PostgreSQL cluster in a temp
folder, ``mlflow server`` on it with proxied artifacts, ``prefect server start``, a process worker.

Each starts in a session of its own and is stopped by its pid (the whole process group: a server's
workers and a worker's flow runs go with it), whatever the test did.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
SPAWNED: list[subprocess.Popen] = []  # every server and worker started, for the test to check they are gone


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin(name: str) -> str | None:
    """A PostgreSQL program from PATH or the Debian package's versioned folder (not on PATH there)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def stop(process: subprocess.Popen, grace_s: float = 20.0) -> None:
    """SIGTERM to the process group, SIGKILL after ``grace_s``; reaps the process."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    with contextlib.suppress(ProcessLookupError):  # a child that outlived its leader
        os.killpg(process.pid, signal.SIGKILL)


def wait_http(url: str, process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    """Until ``url`` answers 200; the server's log in the error when it died or never answered."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        time.sleep(1)
    raise RuntimeError(f"{url}: no answer in {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


def spawn(command: list[str], log: Path, env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen:
    # the venv's programs first, activated or not: `mlflow models serve` execs a bare `uvicorn`
    env = {**env, "PATH": os.pathsep.join([str(BIN), env.get("PATH", "")])}
    with log.open("ab") as handle:
        process = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
    SPAWNED.append(process)
    return process


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``, from ``/proc``."""
    members = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its ")"
            fields = stat_file.read_text().rpartition(")")[2].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(stat_file.parent.name))
    return members


def gone(process: subprocess.Popen, wait_s: float = 10.0) -> bool:
    """The process has exited and no live process of its group is left (zombies waiting for a
    reaper do not count: they hold no resources and run nothing)."""
    deadline = time.monotonic() + wait_s
    while process.poll() is None or group_members(process.pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def listening(url: str) -> bool:
    """Something accepts connections on ``url``'s host and port."""
    parsed = httpx.URL(url.replace("postgresql+psycopg", "http"))
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((parsed.host, parsed.port)) == 0


@contextlib.contextmanager
def postgres(logs: Path) -> Iterator[str]:
    """A fresh cluster on a free port with database ``mlflow``; yields its SQLAlchemy URL (psycopg 3).

    initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` user the
    Debian package creates.
    """
    initdb, pg_ctl, createdb = (postgres_bin(n) for n in ("initdb", "pg_ctl", "createdb"))
    assert initdb and pg_ctl and createdb, "PostgreSQL is not installed (make test installs it)"
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="speechalign-pg-"))  # under /tmp: the postgres user can reach it
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    subprocess.run(
        [*as_user, initdb, "-D", str(data), "-U", "speechalign", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        env=env,
    )
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root}"
    log = root / "postgres.log"
    try:
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start"],
            check=True,
            capture_output=True,
            env=env,
        )
        subprocess.run(
            [createdb, "-h", "127.0.0.1", "-p", str(port), "-U", "speechalign", "mlflow"],
            check=True,
            capture_output=True,
            env=env,
        )
        yield f"postgresql+psycopg://speechalign@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True, env=env
        )
        if log.exists():
            shutil.copy(log, logs / "postgres.log")
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def http_server(
    command: list[str], health: str, log: Path, env: dict[str, str]
) -> Iterator[subprocess.Popen]:
    """``command`` started, held until ``health`` answers 200 (its log in the error if it never does),
    and stopped by its pid on the way out."""
    process = spawn(command, log, env)
    try:
        wait_http(health, process, log, 180)
        yield process
    finally:
        stop(process)


@contextlib.contextmanager
def mlflow_server(backend: str, artifacts: Path, logs: Path, env: dict[str, str]) -> Iterator[str]:
    """``mlflow server`` on ``backend`` with proxied artifacts in ``artifacts``; yields its URL."""
    port = free_port()
    command = [
        str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", backend, "--serve-artifacts", "--artifacts-destination", str(artifacts),
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with http_server(command, f"{url}/health", logs / "mlflow.log", env):
        yield url


@contextlib.contextmanager
def prefect_server(home: Path, logs: Path, env: dict[str, str]) -> Iterator[str]:
    """``prefect server start`` (its own SQLite in ``home``, its services on); yields its API URL."""
    port = free_port()
    env = {**env, "PREFECT_HOME": str(home), "PREFECT_UI_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    command = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}/api"
    with http_server(command, f"{url}/health", logs / "prefect-server.log", env):
        yield url


@contextlib.contextmanager
def worker(pool: str, logs: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """``speechalign worker`` for ``pool``, stopped by its pid with the flow runs it started."""
    process = spawn([str(BIN / "speechalign"), "worker", "--pool", pool], logs / "worker.log", env)
    try:
        yield process
    finally:
        stop(process)

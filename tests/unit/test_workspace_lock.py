"""One writer per workspace: a second retrain or import is refused, naming the holder, and changes
nothing; a holder's death frees the workspace."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from pathlib import Path
from components.workspace_lock import workspace_lock
with workspace_lock(Path(sys.argv[1]), "test holder"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold(workspace: Path, seconds: float) -> subprocess.Popen:
    """A process that holds ``workspace``'s lock for ``seconds``; returns once it holds it."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(workspace), str(seconds)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "held"
    return process


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    return tmp_path


def test_a_second_retrain_is_refused_naming_the_holder_and_changes_nothing(workspace: Path) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    before = (workspace / "params.yaml").read_bytes()
    holder = hold(workspace, 60)
    try:
        result = CliRunner().invoke(
            app, ["retrain", "--workspace", str(workspace), "--recipe", "wav2prompt"], catch_exceptions=False
        )
        imported = CliRunner().invoke(
            app, ["data", "import", "jsonl", str(workspace / "missing.jsonl"), "--workspace", str(workspace)]
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert f"in use by test holder, pid {holder.pid}" in lines[0] and "--wait" in lines[0]
    assert (workspace / "params.yaml").read_bytes() == before  # the recipe was not applied
    assert imported.exit_code != 0


def test_a_killed_holder_frees_the_workspace(workspace: Path) -> None:
    from components.workspace_lock import HOLDER_FILE, workspace_lock

    holder = hold(workspace, 60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (workspace / HOLDER_FILE).is_file()  # its record outlives it, the lock does not
    with workspace_lock(workspace, "after the crash"):
        assert "after the crash" in (workspace / HOLDER_FILE).read_text()
    assert not (workspace / HOLDER_FILE).exists()


def test_waiting_gets_the_lock_once_the_holder_finishes(workspace: Path) -> None:
    from components.workspace_lock import WorkspaceBusy, workspace_lock

    holder = hold(workspace, 1.0)
    try:
        with pytest.raises(WorkspaceBusy, match="after waiting 0.2 s"), workspace_lock(workspace, "x", 0.2):
            pass
        start = time.monotonic()
        with workspace_lock(workspace, "patient", wait_s=30):
            waited = time.monotonic() - start
    finally:
        holder.wait()
    assert 0.2 < waited < 30


def test_the_lock_is_reentrant_within_a_process_across_threads(workspace: Path) -> None:
    from components.workspace_lock import HOLDER_FILE, workspace_lock

    inner = {}
    with workspace_lock(workspace, "cli"):

        def task() -> None:  # as Prefect runs the flow's tasks in worker threads
            with workspace_lock(workspace, "flow"):
                inner["held"] = True

        thread = threading.Thread(target=task)
        thread.start()
        thread.join(timeout=10)
        assert inner == {"held": True}
        assert "cli" in (workspace / HOLDER_FILE).read_text()  # the outermost holder is the one named
    assert not (workspace / HOLDER_FILE).exists()

"""One writer per workspace: a retrain (or a corpus import) holds the workspace's lock from the first
change to ``params.yaml`` until its version is registered.

Two retrains of one workspace would interleave DVC's stages over the same outputs and ``dvc.lock``
and race to register. The lock is an OS file lock (``filelock``, ``flock`` on Linux): the kernel
releases it when its holder dies, however it dies, so a killed run never leaves the workspace locked.
Beside it, the holder writes who it is (pid, host, what it is doing, since when), so the one refused
is told whom it waited for.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from components.atomic import write_json

LOCK_FILE = Path(".speechalign/workspace.lock")
HOLDER_FILE = Path(".speechalign/workspace.holder.json")


class WorkspaceBusy(RuntimeError):
    """Another process holds the workspace; the message names it."""


def holder(workspace: Path) -> str:
    """Who holds ``workspace``'s lock, as a phrase (``retrain, pid 4121 on host-a, since …``)."""
    try:
        record = json.loads((workspace / HOLDER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "another process (it has not said which yet)"
    return f"{record['purpose']}, pid {record['pid']} on {record['host']}, since {record['since']}"


@contextlib.contextmanager
def workspace_lock(workspace: Path, purpose: str, wait_s: float = 0.0) -> Iterator[None]:
    """Hold ``workspace``'s lock for the block, waiting at most ``wait_s`` seconds (0: not at all).

    Re-entrant within a process (the CLI takes it before editing ``params.yaml``, the flow it runs
    takes it again), across threads too: Prefect runs tasks in worker threads.

    Raises:
        WorkspaceBusy: another process holds it past ``wait_s``; nothing was changed.
    """
    workspace = Path(workspace).resolve()
    (workspace / LOCK_FILE).parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(workspace / LOCK_FILE, is_singleton=True, thread_local=False)
    try:
        lock.acquire(timeout=wait_s)  # 0: one attempt
    except Timeout:
        waited = f" after waiting {wait_s:g} s" if wait_s > 0 else ""
        raise WorkspaceBusy(
            f"workspace {workspace} is in use by {holder(workspace)}{waited}; "
            "wait for it to finish, or pass --wait SECONDS"
        ) from None
    outermost = lock.lock_counter == 1
    try:
        if outermost:
            since = datetime.now(UTC).isoformat(timespec="seconds")
            record = {"purpose": purpose, "pid": os.getpid(), "host": socket.gethostname(), "since": since}
            write_json(workspace / HOLDER_FILE, record)
        yield
    finally:
        if outermost:
            (workspace / HOLDER_FILE).unlink(missing_ok=True)
        lock.release()

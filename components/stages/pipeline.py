"""Running DVC stages from an orchestrator: ``dvc repro <stage>`` in a subprocess with a hard time limit.

DVC alone decides what re-runs; this module only runs it, streams its output, and reports whether
the stage ran or was skipped.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

STAGES = ("prepare", "validate", "encode", "targets", "train", "evaluate", "export")
RUNNING_STAGE = re.compile(r"Running stage '([^']+)'")
STOP_GRACE_S = 60.0  # after a time limit's SIGTERM, how long a stage may take to save its state


class StageFailed(RuntimeError):
    """A DVC stage exited non-zero or ran past its time limit; the message names the stage."""


@dataclass(frozen=True)
class StageRun:
    stage: str
    seconds: float
    # every stage DVC ran in this call: an upstream stage changed since it was checked re-runs here too
    ran_stages: tuple[str, ...] = ()

    @property
    def ran(self) -> bool:
        return self.stage in self.ran_stages


def stages_run(runs: list[StageRun]) -> list[str]:
    """The stages that ran in any of ``runs``, in pipeline order."""
    ran = {name for run in runs for name in run.ran_stages}
    return [stage for stage in STAGES if stage in ran]


def stage_environment() -> dict[str, str]:
    """The subprocess finds this interpreter's ``python`` and ``dvc`` first, wherever it was started from."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("DVC_NO_ANALYTICS", "1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def repro(stage: str, workspace: Path, timeout_s: float, echo: bool = True) -> StageRun:
    """Run ``dvc repro <stage>`` in ``workspace``; kill it after ``timeout_s`` seconds."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    return run_dvc(["repro", stage], stage, workspace, timeout_s, echo)


def push(workspace: Path, timeout_s: float, echo: bool = True) -> StageRun:
    """``dvc push``: every cached output goes to the configured remote (a local folder by default)."""
    return run_dvc(["push"], "push", workspace, timeout_s, echo)


def run_dvc(args: list[str], stage: str, workspace: Path, timeout_s: float, echo: bool) -> StageRun:
    start = time.perf_counter()
    command = [str(Path(sys.executable).parent / "dvc"), *args]
    process = subprocess.Popen(
        command,
        cwd=workspace,
        env=stage_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a time limit stops DVC and the stage together
    )
    tail: deque[str] = deque(maxlen=40)
    ran: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line.rstrip())
            started = RUNNING_STAGE.match(line)
            if started:
                ran.append(started.group(1))
            if echo:
                sys.stdout.write(line)
                sys.stdout.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        code = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stop_group(process, STOP_GRACE_S)
        raise StageFailed(
            f"stage {stage}: stopped after its time limit of {timeout_s:.0f} s (train saves a checkpoint"
            " first: running it again resumes)"
        ) from None
    finally:
        reader.join(timeout=5)
    if code != 0:
        failed = f"stage {stage}: dvc {' '.join(args)} exited with {code}"
        if echo:  # the output is on the console already: one line, with the stage's own error lines
            raise StageFailed(f"{failed}: {error_summary(list(tail))}")
        last = "\n".join(list(tail)[-12:])
        raise StageFailed(f"{failed}\n{last}")
    return StageRun(stage, round(time.perf_counter() - start, 2), tuple(ran))


def error_summary(lines: list[str]) -> str:
    """What a failed stage said it failed on, in one line: its own ``…: error: …`` lines (a bad input,
    named by the stage), else its last line that is not DVC's (a crash's exception)."""
    errors = [line.strip() for line in lines if ": error: " in line and not line.startswith("ERROR:")]
    if errors:
        return "; ".join(dict.fromkeys(errors))
    own = [line.strip() for line in lines if line.strip() and not line.startswith("ERROR:")]
    return own[-1] if own else "no output"


def stop_group(process: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM the process's group (DVC and the stage it runs), so a stage can save its state; after
    ``grace_s`` seconds, SIGKILL whatever is left."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)  # is any process of the group left?
        except ProcessLookupError:
            break
        process.poll()  # reap DVC, so a finished group is not kept alive by a zombie leader
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()

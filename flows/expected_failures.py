"""Failures the flows expect, logged by Prefect without their traceback.

Prefect logs a failed task and flow with the exception's traceback. A failed stage's output is on the
console already, and these exceptions carry one line that names what failed (the stage and its rows,
the registry, the gate, the workspace's holder); the traceback would only show the orchestration's own
code, three times over, so it is left out and the message stays.
"""

from __future__ import annotations

import logging

from components.config import ParamsError
from components.registry.promotion import PromotionError
from components.registry.versions import RegistryError
from components.stages.pipeline import StageFailed
from components.workspace_lock import WorkspaceBusy

EXPECTED = (StageFailed, RegistryError, PromotionError, WorkspaceBusy, ParamsError)


class ExpectedFailureWithoutTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], EXPECTED):
            record.exc_info, record.exc_text = None, None
        return True


def install() -> None:
    """Filter Prefect's run loggers (once per process)."""
    for name in ("prefect.task_runs", "prefect.flow_runs", "prefect.engine"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, ExpectedFailureWithoutTraceback) for f in logger.filters):
            logger.addFilter(ExpectedFailureWithoutTraceback())

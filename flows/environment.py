"""Local defaults of the embedded mode: all state in ``.speechalign/``, nothing phones out.

Production overrides these with the ecosystem's own variables (``MLFLOW_TRACKING_URI``,
``PREFECT_API_URL``, the DVC remote in ``.dvc/config``); anything already set is left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

from components.workspace import STATE_DIR


def apply_local_defaults(workspace: Path, runs_flows: bool = False) -> None:
    """Must run before Prefect is imported: Prefect reads its settings at import time. A command that
    ``runs_flows`` gets ``PREFECT_HOME`` made (Prefect's local server cannot start without it); the
    others leave the directory as they found it, so one run where there is no workspace leaves no
    ``.speechalign/`` behind."""
    state = Path(workspace).resolve() / STATE_DIR
    if runs_flows:
        (state / "prefect").mkdir(parents=True, exist_ok=True)
    defaults = {
        "PREFECT_HOME": str(state / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "GX_ANALYTICS_ENABLED": "false",
        "DVC_NO_ANALYTICS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)

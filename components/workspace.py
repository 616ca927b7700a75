"""The workspace layout that ``dvc.yaml`` declares: where each stage reads and writes.

Paths are relative to the workspace root, the directory a stage runs in.
"""

from __future__ import annotations

from pathlib import Path

STATE_DIR = ".speechalign"  # git-ignored local state: MLflow store, PREFECT_HOME, the local DVC remote
BASE_DIR = Path("models/base")
ADAPTER_DIR = Path("models/adapter")
ONNX_DIR = Path("models/onnx")
TARGET_DIR = Path("data/targets")
METRICS_DIR = Path("metrics")

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
RUN_RECORDS_DIR = Path("reports/run_records")  # seconds and cache use per stage, outside DVC
VALIDATION_DIR = Path("reports/validation")  # the validate stage's report: results.json, probe, quarantine
# its great-expectations pages, outside DVC: great expectations stamps each page with its render time
VALIDATION_DOCS_DIR = Path("reports/validation_docs")
VALIDATED_DIR = Path("data/validated")  # the manifests minus quarantined rows: what later stages read
PROBE_CACHE_DIR = Path(STATE_DIR) / "probe-cache"  # audio probe results by content hash; safe to delete
ENCODED_DIR = Path("data/encoded")  # the encode stage's frozen-encoder states per clip, by content key

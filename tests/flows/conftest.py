"""A throw-away pipeline workspace (git + DVC) with tiny params, and one Prefect harness per session."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from flows.workspace_files import commit_changes, sync_workspace

REPO = Path(__file__).resolve().parents[2]
TINY_PARAMS = {
    "prepare": {
        "sentences_per_language": 4,
        "voice_variants": 1,
        "dev_share": 0.25,
        "test_share": 0.25,
        "base_models": {
            "tiny_encoder": {"d_model": 64, "layers": 1, "ffn_dim": 128},
            "tiny_llm": {"hidden_size": 64, "layers": 2, "heads": 4, "kv_heads": 2, "intermediate_size": 128},
        },
        "text_skills": {"steps": 10, "batch_size": 8, "extra_sentences": 10, "check_sentences": 2},
    },
    "targets": {"max_new_tokens": 8},
    "train": {
        "phases": [{"name": "align", "steps": 12, "tasks": {"continuation": 1.0}, "train": ["adapter"]}],
        "batch_size": 4,
        "warmup_steps": 2,
        "adapter": {"conv_layers": 2, "conv_channels": 64, "bottleneck": 64},
    },
    "evaluate": {"max_new_tokens": 8, "batch_size": 16},
    "export": {"batch_sizes": [1, 2], "lengths_s": [0.9, 1.7, 2.3]},
}


def deep_update(base: dict, changes: dict) -> dict:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value
    return base


def git(workspace: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=workspace, check=True, capture_output=True)


def make_workspace(root: Path) -> Path:
    """Copy the project's pipeline files into ``root``, shrink params, and commit it all."""
    sync_workspace(root)
    params = deep_update(yaml.safe_load((root / "params.yaml").read_text()), TINY_PARAMS)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    commit_changes(root, "tiny params")
    return root


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory):
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect-home")))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    return make_workspace(tmp_path_factory.mktemp("workspace"))

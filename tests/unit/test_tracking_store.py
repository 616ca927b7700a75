"""Each workspace's own MLflow store in one process, and a production server's address kept."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_a_second_workspace_gets_its_own_store_not_the_one_mlflow_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    from components.registry.mlflow_registry import configure, tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with _use_tracking_uri(None):
        configure(tmp_path / "one", "speechalign")  # mlflow exports this store as MLFLOW_TRACKING_URI
        configure(tmp_path / "two", "speechalign")
        assert mlflow.get_tracking_uri() == f"sqlite:///{(tmp_path / 'two/.speechalign/mlflow.db').resolve()}"
    server = "http://mlflow.internal:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)  # production: the platform server, every workspace
    assert tracking_uri(tmp_path / "three") == server

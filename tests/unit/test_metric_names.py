"""Every number in the metrics files reaches MLflow under a name it accepts, whatever key wrote it."""

from __future__ import annotations

import json
from pathlib import Path


def test_metric_keys_mlflow_would_refuse_are_made_acceptable(tmp_path: Path) -> None:
    from mlflow.utils.validation import _validate_metric_name

    from components.registry.run_metrics import numeric_metrics

    metrics = tmp_path / "metrics"
    metrics.mkdir()
    odd = {"Translate into {language}, please?": 38.7, "ok": 1, "long " * 80: 2.0, "nested": {"a/b: c": 3}}
    (metrics / "eval.json").write_text(json.dumps(odd), encoding="utf-8")
    found = numeric_metrics(tmp_path)
    assert found["eval.Translate into _language__ please_"] == 38.7
    assert found["eval.ok"] == 1.0 and found["eval.nested.a/b: c"] == 3.0
    assert len(found) == 4 and all(len(name) <= 250 for name in found)
    for name in found:
        _validate_metric_name(name)  # raises MlflowException for a name MLflow refuses

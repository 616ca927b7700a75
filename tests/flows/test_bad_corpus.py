"""A retrain on a corpus holding every kind of bad row names them all in one report and registers nothing."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.data.bad_corpus import BAD_ROWS, MAX_SECONDS, make_bad_corpus
from tests.flows.conftest import commit_changes, deep_update, make_workspace

pytestmark = pytest.mark.slow


def test_one_retrain_names_every_bad_row_in_one_report_and_registers_nothing(
    prefect_harness, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from mlflow import MlflowClient

    from components.registry.mlflow_registry import configure
    from components.stages.pipeline import StageFailed
    from flows.retrain import retrain

    workspace = make_workspace(tmp_path_factory.mktemp("bad-corpus-workspace"))
    source = make_bad_corpus(workspace.parent / "corpus")
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    deep_update(
        params,
        {
            "prepare": {"corpus": {"kind": "jsonl", "source": str(source)}},
            "validate": {
                "languages": ["eng"],
                "max_duration_s": MAX_SECONDS,
                "audio": {"resample": False, "downmix": False, "too_long": "reject"},
                "leakage": {"transcript": True, "speaker": False},
            },
        },
    )
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    commit_changes(workspace, "a corpus with every kind of bad row")

    with pytest.raises(StageFailed) as failure:
        retrain(workspace=str(workspace))
    message = str(failure.value)
    assert "stage validate" in message and "\n" not in message
    results = json.loads((workspace / "reports/validation/results.json").read_text(encoding="utf-8"))
    named = {failure["rule"]: failure["ids"] for failure in results["failures"]}
    missed = {uid: rule for uid, rule in BAD_ROWS.items() if uid not in named.get(rule, [])}
    assert not missed, f"not named under their rule in one report: {missed}"
    assert not (workspace / "data/targets").exists()  # stopped before targets
    configure(workspace, "speechalign")
    assert MlflowClient().search_model_versions("name='speechalign'") == []

"""The MLflow run records the manifests the model was trained on: the validated ones, by their DVC hash.

``data/validated`` (the validate stage's output) is what targets, train and evaluate read; the prepared
``data/manifests`` it was validated from are kept as the source. Each split is one dataset input whose
digest is the ``dvc.lock`` hash of the stage output holding it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.registry.lineage import Lineage
from components.registry.mlflow_registry import configure, log_datasets

PREPARED_MD5 = "0123456789abcdef0123456789abcdef.dir"
VALIDATED_MD5 = "fedcba9876543210fedcba9876543210.dir"


def write_split(folder: Path, split: str, ids: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "id": uid,
            "audio": f"audio/{uid}.wav",
            "language": "eng",
            "text": f"transcript {uid}",
            "duration_s": 1.0,
            "sample_rate": 16000,
            "split": split,
        }
        for uid in ids
    ]
    (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def tracking(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The workspace's own tracking store for this test only: mlflow keeps the tracking URI process-wide
    (and exports it as MLFLOW_TRACKING_URI), so the one in force before is put back afterwards."""
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with _use_tracking_uri(None):
        yield


def test_validated_manifests_are_the_runs_inputs_with_the_validate_stage_hash(
    tmp_path: Path, tracking: None
) -> None:
    import mlflow
    from mlflow import MlflowClient

    manifests, validated = tmp_path / "data" / "manifests", tmp_path / "data" / "validated"
    for split, ids in {"train": ["a", "b", "c"], "dev": ["d", "e"], "test": ["f"]}.items():
        write_split(manifests, split, ids)
    write_split(validated, "train", ["a", "c"])  # b was quarantined
    write_split(validated, "dev", ["d", "e"])
    write_split(validated, "test", [])  # every test row quarantined: nothing was evaluated on it
    lineage = Lineage(
        "0" * 40,
        False,
        {
            "prepare": {"deps": {}, "outs": {"data/manifests": PREPARED_MD5}},
            "validate": {"deps": {"data/manifests": PREPARED_MD5}, "outs": {"data/validated": VALIDATED_MD5}},
        },
    )
    with mlflow.start_run(experiment_id=configure(tmp_path, "lineage")) as run:
        log_datasets(tmp_path, lineage)

    logged = {}
    for item in MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs:
        tags = {tag.key: tag.value for tag in item.tags}
        profile = json.loads(item.dataset.profile)
        logged[tags["mlflow.data.context"]] = (
            item.dataset.name,
            item.dataset.digest,
            tags["dvc_md5"],
            tags["dvc_path"],
            profile["num_rows"],
        )
    assert logged == {
        "train": ("validated-train", VALIDATED_MD5, VALIDATED_MD5, "data/validated/train.jsonl", 2),
        "dev": ("validated-dev", VALIDATED_MD5, VALIDATED_MD5, "data/validated/dev.jsonl", 2),
        "source-train": ("manifest-train", PREPARED_MD5, PREPARED_MD5, "data/manifests/train.jsonl", 3),
        "source-dev": ("manifest-dev", PREPARED_MD5, PREPARED_MD5, "data/manifests/dev.jsonl", 2),
        "source-test": ("manifest-test", PREPARED_MD5, PREPARED_MD5, "data/manifests/test.jsonl", 1),
    }

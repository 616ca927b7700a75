"""A version's lineage names its packages, machine and validation summary, outside its fingerprint."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import yaml

LOCK = {
    "schema": "2.0",
    "stages": {
        "validate": {
            "cmd": "python -m components.stages.validate",
            "deps": [{"path": "data/manifests", "md5": "a" * 32 + ".dir"}],
            "params": {"params.yaml": {"validate.min_duration_s": 0.3}},
            "outs": [{"path": "data/validated", "md5": "b" * 32 + ".dir"}],
        }
    },
}
VALIDATION = {
    "success": True,
    "rows": 1030,
    "expectations_evaluated": 37,
    "expectations_failed": 2,
    "critical_failed": 0,
    "quarantine": {"rows": 8, "share": 0.0078},
    "failures": [{"rule": "audio_too_long"}, {"rule": "text_length"}, {"rule": "audio_too_long"}],
}


def workspace(tmp_path: Path) -> Path:
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(LOCK))
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/validation.json").write_text(json.dumps(VALIDATION))
    return tmp_path


def test_lineage_records_packages_machine_and_validation(tmp_path: Path) -> None:
    from components.registry.lineage import collect_lineage

    lineage = collect_lineage(workspace(tmp_path))
    for name in ("torch", "transformers", "peft", "mlflow", "dvc"):
        assert lineage.packages[name] == metadata.version(name)
    assert lineage.packages["onnxruntime"].split()[0] == __import__("onnxruntime").__version__
    assert lineage.machine["cpu"] and lineage.machine["cpu"] != "unknown"
    assert lineage.machine["gpu"] == "none" and lineage.machine["cuda"] == "none"
    assert lineage.validation == {
        "success": True,
        "rows": 1030,
        "expectations_evaluated": 37,
        "expectations_failed": 2,
        "critical_failed": 0,
        "quarantined_rows": 8,
        "failed_rules": ["audio_too_long", "text_length"],
    }
    tags = lineage.tags()
    assert tags["package.torch"] == metadata.version("torch")
    assert tags["validation.failed_rules"] == "audio_too_long,text_length"
    assert tags["machine.memory_gib"] == lineage.machine["memory_gib"]
    recorded = lineage.to_json()
    assert recorded["packages"] == lineage.packages and recorded["validation"] == lineage.validation


def test_the_environment_is_not_part_of_the_fingerprint(tmp_path: Path) -> None:
    import dataclasses

    from components.registry.lineage import collect_lineage

    lineage = collect_lineage(workspace(tmp_path))
    elsewhere = dataclasses.replace(
        lineage, packages={**lineage.packages, "torch": "0.0"}, machine={"cpu": "another"}, validation={}
    )
    assert elsewhere.fingerprint == lineage.fingerprint
    params_changed = dataclasses.replace(lineage, params={"validate": {"x": 1}})
    assert params_changed.fingerprint != lineage.fingerprint


def test_cpu_model_is_read_from_cpuinfo(tmp_path: Path) -> None:
    from components.registry.environment import cpu_model

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) 8480+\n")
    assert cpu_model(info) == "Intel(R) Xeon(R) 8480+"
    assert cpu_model(tmp_path / "missing") != ""


def test_a_workspace_without_validation_metrics_records_none(tmp_path: Path) -> None:
    from components.registry.lineage import collect_lineage

    root = workspace(tmp_path)
    (root / "metrics/validation.json").unlink()
    assert collect_lineage(root).validation == {}

"""``dvc.yaml`` declares each stage exactly: its own code, real params keys, and the stage order."""

from __future__ import annotations

from pathlib import Path

import yaml

from components.config import Params, load_params
from components.modeling.adapter_registry import adapter_fields
from components.stages.pipeline import STAGES

REPO = Path(__file__).resolve().parents[2]


def pipeline() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def test_stages_are_the_pipeline_in_order() -> None:
    assert tuple(pipeline()) == STAGES


def test_each_stage_runs_its_own_module_and_lists_it_as_a_dependency() -> None:
    for name, stage in pipeline().items():
        assert stage["cmd"] == f"python -m components.stages.{name}"
        assert f"components/stages/{name}.py" in stage["deps"]


def test_every_dependency_exists_or_is_an_upstream_output() -> None:
    produced: set[str] = set()
    for stage in pipeline().values():
        for dep in stage["deps"]:
            assert dep in produced or (REPO / dep).exists(), dep
        for kind in ("outs", "metrics", "plots"):
            for out in stage.get(kind, []):
                produced.add(next(iter(out)) if isinstance(out, dict) else out)


def test_params_keys_named_by_stages_exist_in_params_yaml() -> None:
    params = load_params(REPO / "params.yaml").model_dump(by_alias=True)
    for name, stage in pipeline().items():
        for key in stage.get("params", []):
            node = params
            for part in key.split("."):
                assert isinstance(node, dict) and part in node, f"{name}: params key {key} does not exist"
                node = node[part]


def test_params_yaml_spells_out_every_default() -> None:
    """Every value a stage uses is in params.yaml, so DVC sees a change of default as a change."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())

    def keys(data: dict, prefix: str = "") -> set[str]:
        out = set()
        for key, value in data.items():
            out |= keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}"}
        return out

    defaults = Params()
    # the adapter's own options are its config's fields, defaulted by the adapter, not by Params
    options = {f"train.adapter.{name}" for name in adapter_fields(defaults.train.adapter.kind)}
    assert keys(raw) == keys(defaults.model_dump(by_alias=True)) | options


def test_a_repro_reports_every_stage_dvc_ran_including_an_upstream_one(tmp_path: Path) -> None:
    """``dvc repro validate`` re-runs a changed ``prepare`` too; the run says so, and so does the flow."""
    import subprocess
    import sys

    from components.stages.pipeline import StageRun, repro, stages_run

    dvc = str(Path(sys.executable).parent / "dvc")
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "source.txt").write_text("one\n")
    stages = {
        "prepare": {"cmd": "cp source.txt prepared.txt", "deps": ["source.txt"], "outs": ["prepared.txt"]},
        "validate": {
            "cmd": "cp prepared.txt validated.txt",
            "deps": ["prepared.txt"],
            "outs": ["validated.txt"],
        },
    }
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))

    first = repro("validate", tmp_path, timeout_s=120, echo=False)
    assert first.ran and first.ran_stages == ("prepare", "validate")
    again = repro("validate", tmp_path, timeout_s=120, echo=False)
    assert not again.ran and again.ran_stages == ()
    (tmp_path / "source.txt").write_text("two\n")  # prepare is out of date when validate is asked for
    upstream = repro("validate", tmp_path, timeout_s=120, echo=False)
    assert upstream.ran_stages == ("prepare", "validate")
    skipped_prepare = StageRun("prepare", 0.1, ())
    assert stages_run([skipped_prepare, upstream]) == ["prepare", "validate"]

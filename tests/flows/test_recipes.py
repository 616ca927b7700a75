"""Every recipe end to end through the same DVC stages: a version tagged with it, and a better objective.

The presets are applied as ``speechalign retrain --recipe`` does, then shrunk to a few steps per phase
(the phases, losses, tasks and trainable groups stay the preset's own).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow(minutes=6)

STEPS_PER_PHASE = 10


def shrink_preset(params_path: Path) -> None:
    """Keep the preset's curriculum, with few steps per phase and a small targets budget."""
    from components.params_file import update_params

    params = yaml.safe_load(params_path.read_text())
    phases = [{**phase, "steps": STEPS_PER_PHASE} for phase in params["train"]["phases"]]
    update_params(
        params_path,
        {"train.phases": phases, "targets.max_new_tokens": 8, "train.warmup_steps": 2, "train.lr": 3e-3},
    )


@pytest.mark.parametrize("recipe", ["bloomzmms", "speechverse", "wav2prompt"])
def test_recipe_runs_end_to_end_registers_a_tagged_version_and_improves_its_dev_objective(
    prefect_harness, workspace: Path, recipe: str
) -> None:
    from mlflow import MlflowClient

    from components.recipes.presets import apply_recipe
    from components.registry.mlflow_registry import configure
    from flows.retrain import retrain

    apply_recipe(workspace / "params.yaml", recipe)
    shrink_preset(workspace / "params.yaml")
    result = retrain(workspace=str(workspace))

    assert {"targets", "train", "evaluate", "export"} <= set(result["stages_run"])
    registration = result["registration"]
    assert registration["created"]
    configure(workspace, "speechalign")
    version = MlflowClient().get_model_version(registration["model_name"], registration["version"])
    assert version.tags["recipe"] == recipe
    by_recipe = MlflowClient().search_model_versions(
        f"name='{registration['model_name']}' and tags.recipe='{recipe}'"
    )
    assert [v.version for v in by_recipe] == [version.version]

    train = json.loads((workspace / "metrics/train.json").read_text())
    assert train["recipe"] == recipe
    preset = yaml.safe_load((workspace / "params.yaml").read_text())["train"]["phases"]
    assert set(train["phases"]) == {phase["name"] for phase in preset}
    for name, phase in train["phases"].items():
        assert phase["steps"] == STEPS_PER_PHASE
        before, after = phase["dev_before"]["objective"], phase["dev_after"]["objective"]
        assert after < before, f"{recipe} phase {name}: dev objective {before:.3f} → {after:.3f}"
    evaluation = json.loads((workspace / "metrics/eval.json").read_text())
    assert evaluation["recipe"] == recipe and "asr" in evaluation

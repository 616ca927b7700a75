"""Recipe presets: each applies cleanly to params.yaml and trains only on tasks its targets produce."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from components.config import RECIPES, parse_params

REPO = Path(__file__).resolve().parents[2]


def produced_tasks(targets: dict) -> set[str]:
    """The task names the targets stage writes for a targets section."""
    from components.targets.templates import instruction_templates

    source = targets["source"]
    if source == "continuation":
        return {"continuation"}
    if source == "multi_instruction":
        return {"transcribe"} | set(instruction_templates())
    if source == "tasks":
        return {"asr", "st", "intent", "qa"}
    return {"asr"} | set(targets.get("few_shot_tasks", []))


@pytest.mark.parametrize("recipe", RECIPES)
def test_each_preset_applies_to_the_repository_params_and_names_the_recipe(
    recipe: str, tmp_path: Path
) -> None:
    from components.recipes.presets import apply_recipe

    params_path = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params_path)
    params = apply_recipe(params_path, recipe)
    assert params.recipe == recipe
    text = params_path.read_text()
    assert "# One section per pipeline stage" in text  # comments kept
    reloaded = parse_params(yaml.safe_load(text))
    assert reloaded == params
    phase_tasks = {task for phase in params.train.phases for task in phase.tasks} - {"*"}
    assert phase_tasks <= produced_tasks(params.targets.model_dump())


def test_switching_recipes_replaces_the_adapter_rather_than_merging_its_options(tmp_path: Path) -> None:
    from components.recipes.presets import apply_recipe

    params_path = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params_path)
    apply_recipe(params_path, "blsp")
    params = apply_recipe(params_path, "wav2prompt")
    assert params.train.adapter.kind == "cif" and "bottleneck" not in params.train.adapter.options()
    assert apply_recipe(params_path, "blsp").train.adapter.options()["bottleneck"] == 512


def test_an_unknown_recipe_or_adapter_option_is_named_and_leaves_params_untouched(tmp_path: Path) -> None:
    from components.config import ParamsError
    from components.params_file import update_params
    from components.recipes.presets import apply_recipe

    params_path = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params_path)
    before = params_path.read_bytes()
    with pytest.raises(ParamsError, match="recipe 'whisperx' is not one of blsp"):
        apply_recipe(params_path, "whisperx")
    with pytest.raises(ParamsError, match=r"train.adapter.stride: unknown key \(the conv_glu adapter"):
        update_params(params_path, {"train.adapter.stride": 2})
    with pytest.raises(ParamsError, match=r"train.adapter.conv_layers: must be a positive integer \(got 0\)"):
        update_params(params_path, {"train.adapter.conv_layers": 0})
    assert params_path.read_bytes() == before


def test_a_phase_that_trains_lora_needs_lora_and_the_quantity_loss_needs_cif() -> None:
    from components.config import ParamsError

    phase = {"name": "p", "steps": 1, "tasks": {"asr": 1.0}}
    with pytest.raises(ParamsError, match="trains lora but train.lora is not set"):
        parse_params({"train": {"phases": [{**phase, "train": ["lora"]}]}})
    with pytest.raises(ParamsError, match="the quantity loss needs the cif adapter"):
        parse_params({"train": {"phases": [{**phase, "losses": {"quantity": 1.0}}]}})


def test_the_retrain_command_applies_the_whole_recipe_before_the_flow_reads_params(
    tmp_path: Path, monkeypatch
) -> None:
    from typer.testing import CliRunner

    from components.config import load_params
    from flows import cli
    from flows import retrain as retrain_module

    workspace = tmp_path / "workspace"
    workspace.mkdir()
    shutil.copy(REPO / "params.yaml", workspace / "params.yaml")
    original = load_params(workspace / "params.yaml")
    preset = yaml.safe_load((REPO / "components" / "recipes" / "speechverse.yaml").read_text())
    seen: list = []

    def flow(workspace: str, stage_timeout_s: float | None = None) -> dict:
        seen.append(load_params(Path(workspace) / "params.yaml"))  # what the stages will read
        return {"stages_run": [], "registration": {"message": ""}}

    monkeypatch.setattr(cli, "apply_local_defaults", lambda *_, **__: None)  # no Prefect or MLflow state here
    monkeypatch.setattr(retrain_module, "retrain", flow)
    result = CliRunner().invoke(
        cli.app, ["retrain", "--recipe", "speechverse", "--workspace", str(workspace)]
    )
    assert result.exit_code == 0, result.output
    [params] = seen  # the flow ran once, on params that already hold the whole preset
    assert params.recipe == "speechverse"
    assert params.train.adapter.kind == preset["train"]["adapter"]["kind"] != original.train.adapter.kind
    assert [p.name for p in params.train.phases] == [p["name"] for p in preset["train"]["phases"]]
    assert params.targets.source == preset["targets"]["source"]
    for section in ("prepare", "validate", "evaluate", "export", "registry"):  # the rest is the user's
        assert getattr(params, section) == getattr(original, section), section
    assert "none (every stage was up to date)" in result.output  # the CLI's own wording of no stages

    before = (workspace / "params.yaml").read_text()
    refused = CliRunner().invoke(cli.app, ["retrain", "--recipe", "salmonn", "--workspace", str(workspace)])
    assert refused.exit_code == 1 and "'salmonn' is not a recipe" in refused.output
    assert (workspace / "params.yaml").read_text() == before and len(seen) == 1  # the flow never ran


def test_the_real_run_shares_its_step_budget_over_the_phases() -> None:
    from flows.real_demo_cli import share_steps

    assert share_steps([500, 250, 750], 60) == [20, 10, 30]  # SpeechVerse's curriculum, in proportion
    assert share_steps([500, 1000], 60) == [20, 40]
    assert share_steps([1500], 60) == [60]
    assert share_steps([3000, 1], 60) == [60, 1]  # every phase keeps at least a step
    assert share_steps([20, 10], 60) == [20, 10]  # within the budget: kept as planned


def test_a_recipe_keeps_the_users_targets_precision_and_device(tmp_path: Path) -> None:
    from components.params_file import update_params
    from components.recipes.presets import apply_recipe

    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    update_params(
        params,
        {
            "targets.precision": "bf16",
            "train.precision": "bf16",
            "targets.device": "cpu",
            "train.device": "cpu",
        },
    )
    applied = apply_recipe(params, "bloomzmms")
    assert applied.targets.source == "multi_instruction"
    assert (applied.targets.precision, applied.train.precision) == ("bf16", "bf16")
    assert (applied.targets.device, applied.train.device) == ("cpu", "cpu")


def test_the_real_run_caps_warm_up_at_a_third_of_its_shortest_phase(tmp_path: Path) -> None:
    from components.recipes.presets import apply_recipe
    from flows.real_demo_cli import real_settings

    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    apply_recipe(params, "speechverse")
    settings = real_settings(params, ["eng", "spa"], 60)
    assert [p["steps"] for p in settings["train.phases"]] == [20, 10, 30]
    assert settings["train.phases"][2]["tasks"] == {"asr": 0.1, "st": 0.3}  # no intent or QA labels
    assert settings["train.warmup_steps"] == 3  # not 20: the 10-step phase would never leave warm-up
    apply_recipe(params, "wav2prompt")
    assert real_settings(params, ["eng", "spa"], 60)["train.warmup_steps"] == 20  # one 60-step phase

"""Recipe presets: the targets and training settings that make each method what it is.

A preset is a YAML file beside this module. Applying one writes it into ``params.yaml`` (comments and
the other sections kept), so the file always shows what runs, DVC re-runs exactly the stages whose
settings changed, and the registered version is tagged with the recipe it names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from components.config import RECIPES, Params, ParamsError
from components.params_file import update_params

PRESET_DIR = Path(__file__).parent


# of targets: how they are computed, not what; kept when a recipe replaces the section
COMPUTE_KEYS = ("precision", "device", "engine", "vllm_python", "workers", "dask_address")


def load_preset(name: str) -> dict[str, Any]:
    """The preset's settings by dotted key: targets, train.adapter, train.lora, train.phases."""
    if name not in RECIPES:
        raise ParamsError(f"recipe {name!r} is not one of {', '.join(RECIPES)}")
    raw = yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    train = raw.get("train", {})
    return {
        "targets": raw["targets"],
        "train.adapter": train["adapter"],
        "train.lora": train.get("lora"),
        "train.phases": train["phases"],
    }


def apply_recipe(params_path: str | Path, name: str) -> Params:
    """Write recipe ``name``'s preset into ``params_path``; validated before anything is written."""
    preset = load_preset(name)
    if Path(params_path).is_file():  # how targets are computed is the user's, not the recipe's
        kept = yaml.safe_load(Path(params_path).read_text(encoding="utf-8")) or {}
        compute = {k: v for k, v in (kept.get("targets") or {}).items() if k in COMPUTE_KEYS}
        preset["targets"] = {**preset["targets"], **compute}
    # each key replaced whole: a mapping left over from another recipe (the old adapter's options) is wrong
    return update_params(params_path, {"recipe": name, **preset}, replace=tuple(preset))

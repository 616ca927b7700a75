"""``speechalign real-demo``: a recipe trained on recorded speech with pretrained Whisper and LLM.

One command does what a user would: fetch the checkpoints and the Asterisk corpus by name (cached,
offline once fetched), make a workspace of its own (so the embedded demo's params and registry are
untouched), lay the recipe's preset and the real-speech settings over its params, import the corpus
with ``data import jsonl`` and run ``retrain``. Nothing here is Asterisk-specific past the fetch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from flows.command_line import fail

REAL_PRESET = Path(__file__).resolve().parents[1] / "components" / "recipes" / "real_speech.yaml"
DEFAULT_WORKSPACE = Path(".speechalign/real-demo")


def dotted(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping → ``{"a.b.c": value}``, leaves only (lists are leaves)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(dotted(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


UNLABELLED = ("intent", "qa")  # the Asterisk prompts have transcripts and translations, nothing else


def real_settings(params_path: Path, languages: list[str], steps: int | None) -> dict[str, Any]:
    """The real-speech preset by dotted key (with its settings for the params' recipe), with the
    languages, the phases' tasks cut to those the prompts are labelled for, and the phases cut to
    ``steps`` in all (see ``share_steps``)."""
    from components.config import load_params

    preset = yaml.safe_load(REAL_PRESET.read_text(encoding="utf-8"))
    recipe = load_params(params_path).recipe
    settings = dotted({k: v for k, v in preset.items() if k != "recipes"})
    settings.update(dotted((preset.get("recipes") or {}).get(recipe) or {}))
    settings["validate.languages"] = languages
    phases = [phase.model_dump() for phase in load_params(params_path).train.phases]
    for phase in phases:  # a phase weighs only tasks the real corpus has labels for
        phase["tasks"] = {task: w for task, w in phase["tasks"].items() if task not in UNLABELLED}
    settings["train.phases"] = phases
    if steps is not None:
        for phase, share in zip(phases, share_steps([p["steps"] for p in phases], steps), strict=True):
            phase["steps"] = share
        settings["train.phases"] = phases
        # warm-up runs per phase: a cut phase must not be all warm-up (at most a third of the shortest)
        warmup = settings.get("train.warmup_steps", load_params(params_path).train.warmup_steps)
        settings["train.warmup_steps"] = min(warmup, max(1, min(p["steps"] for p in phases) // 3))
    return settings


def share_steps(planned: list[int], budget: int) -> list[int]:
    """Cut a curriculum's ``planned`` steps per phase to about ``budget`` in all, each phase keeping its
    share (at least one step): a three-phase recipe costs what a one-phase recipe does, not three times.
    A curriculum already within the budget is kept."""
    total = sum(planned)
    if total <= budget:
        return list(planned)
    return [max(1, round(steps * budget / total)) for steps in planned]


def run_cli(*args: str) -> None:
    """Run a ``speechalign`` command in its own process (each sets up its workspace's environment)."""
    done = subprocess.run([sys.executable, "-m", "flows.cli", *args], check=False, env=os.environ.copy())
    if done.returncode != 0:
        raise typer.Exit(code=done.returncode)


def real_demo(
    recipe: Annotated[str, typer.Option(help="The recipe to train.")] = "blsp",
    languages: Annotated[
        str, typer.Option(help="Comma-separated languages of the Asterisk prompts.")
    ] = "eng,spa",
    steps: Annotated[
        int | None,
        typer.Option(help="Training steps in all, shared over the phases by their planned lengths."),
    ] = 60,
    workspace: Annotated[Path, typer.Option(help="The real demo's own workspace.")] = DEFAULT_WORKSPACE,
) -> None:
    """Fetch, then train RECIPE on recorded speech with Whisper-base and a pretrained LLM, and register it."""
    from components.atomic import write_text
    from components.checkpoints.catalog import CATALOG
    from components.config import RECIPES, ParamsError
    from components.params_file import update_params
    from components.recipes.presets import apply_recipe
    from flows.workspace_files import commit_changes, sync_workspace

    if recipe not in RECIPES:
        fail(f"--recipe {recipe!r} is not a recipe; choose from {', '.join(RECIPES)}")
    codes = [code.strip() for code in languages.split(",") if code.strip()]
    languages_iso = sorted(iso_codes(codes))  # a bad code stops here, before anything is fetched
    start = time.perf_counter()
    base = yaml.safe_load(REAL_PRESET.read_text(encoding="utf-8"))["prepare"]["base_models"]
    for role in ("encoder", "llm"):
        if base[role] in CATALOG:
            run_cli("checkpoints", "fetch", base[role])
    root = sync_workspace(workspace)
    params_path = root / "params.yaml"
    before = params_path.read_text(encoding="utf-8")
    try:  # the preset first, so the import checks durations against Whisper's 30 s, not the demo's 10 s
        apply_recipe(params_path, recipe)
        update_params(params_path, real_settings(params_path, languages_iso, steps))
        # the same command a user runs: fetch, build the manifest, import it as jsonl
        run_cli("data", "fetch", "asterisk", "--languages", ",".join(codes), "--workspace", str(root))
    except (ParamsError, typer.Exit) as exc:
        write_text(params_path, before)  # a failed step leaves the workspace's params as they were
        if isinstance(exc, ParamsError):
            fail(str(exc))
        raise
    commit_changes(root, f"real demo: {recipe} on {', '.join(codes)}")
    typer.echo(f"real demo: workspace {root}, set up in {time.perf_counter() - start:.0f} s")
    run_cli("retrain", "--workspace", str(root))
    typer.echo(
        f"real demo finished in {time.perf_counter() - start:.0f} s; see "
        f"`speechalign models --workspace {workspace}` and `speechalign lineage 1 --workspace {workspace}`"
    )


def iso_codes(codes: list[str]) -> set[str]:
    from components.data.languages import iso639_3

    try:
        return {iso639_3(code) for code in codes}
    except ValueError as exc:
        fail(f"--languages: {exc}")

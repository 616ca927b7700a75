"""One epoch's first batches of a workspace's training set, with the model and objective that train
on them: what the training benchmarks measure steps on."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass
class TrainingSetup:
    model: Any
    params: Any
    examples: list[Any]
    plan: list[list[Any]]
    losses: dict[str, float]
    settings: Any
    audio: dict[str, Path]


def require(workspace: Path, *outputs: str) -> None:
    """Stop in one line unless the workspace holds every one of ``outputs`` (stage outputs)."""
    missing = [name for name in outputs if not (workspace / name).exists()]
    if missing:
        raise SystemExit(
            f"{workspace.resolve()}: no {', '.join(missing)}; run `make demo` (or `speechalign retrain`) "
            "there first"
        )


def workspace_model(workspace: Path) -> tuple[Any, Any, dict[str, list[Any]]]:
    """Changes into ``workspace`` (whose ``validate`` stage has run) and builds its speech LLM from
    its base models as the ``train`` stage does: ``(model, params, manifests by split)``.

    Raises:
        SystemExit: the workspace has no validated manifests yet (one line: run ``make demo``).
    """
    require(workspace, "data/validated")
    os.chdir(workspace)
    from components.compute import set_threads
    from components.config import load_params
    from components.data.manifest import read_manifest
    from components.modeling.base_models import read_sources
    from components.modeling.speech_llm import SpeechLLM
    from components.stages.train import corpus_languages
    from components.workspace import VALIDATED_DIR

    set_threads()  # as the stages do: one thread per usable core, or SPEECHALIGN_THREADS
    torch.manual_seed(0)
    params = load_params()
    sources = read_sources()
    manifests = {split: read_manifest(split, VALIDATED_DIR) for split in ("train", "dev")}
    model = SpeechLLM.from_base(
        sources.encoder,
        sources.llm,
        params.train.adapter,
        params.train.lora,
        params.train.seed,
        sources.prompt_template,
        corpus_languages(manifests),
        system_prompt=sources.system_prompt,
    )
    return model, params, manifests


def load_training(workspace: Path, batches: int) -> TrainingSetup:
    """The workspace's model (:func:`workspace_model`), its stored training states and the first
    phase's objective; ``plan`` is the first ``batches`` batches the trainer's sampler draws."""
    require(workspace, "data/encoded", "data/targets")
    from components.data.manifest import DATA_ROOT
    from components.modeling.encoder_states import encoder_key
    from components.stages.train import load_examples
    from components.training.trainer import run_settings, task_sampler

    model, params, manifests = workspace_model(workspace)
    key = encoder_key(model.speech.encoder, model.feature_extractor, model.speech.every_layer)
    examples = load_examples("train", manifests["train"], key)
    draw = task_sampler(examples, {"*": 1.0}, params.train.batch_size, params.train.seed)
    return TrainingSetup(
        model=model,
        params=params,
        examples=examples,
        plan=[draw(step) for step in range(batches)],
        losses=params.train.phases[0].losses,
        settings=run_settings(model, params.train),
        audio={u.id: DATA_ROOT / u.audio for u in manifests["train"]},
    )


def workspace_and_count(default: int) -> tuple[Path, int]:
    """``[WORKSPACE] [COUNT]`` from the command line: ``.`` and ``default`` where not given."""
    return (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path("."),
        int(sys.argv[2]) if len(sys.argv) > 2 else default,
    )


def fastest(passes: dict[str, Callable[[], float]], rounds: int = 2) -> dict[str, float]:
    """Each timed pass run ``rounds`` times, interleaved with the others so that a slow spell of the
    machine falls on all of them; the fastest time of each counts."""
    timings = {name: float("inf") for name in passes}
    for _ in range(rounds):
        for name, run in passes.items():
            timings[name] = min(timings[name], run())
    return timings


def report(
    header: str, rows: dict[str, str], ratio: str, value: float, goal: str = "", notes: Sequence[str] = ()
) -> None:
    """Print a benchmark's header, one line per measured mode, the ratio (with its goal) and notes."""
    print(header)
    for name, measured in rows.items():
        print(f"  {name:<11} {measured}")
    print(f"  {ratio}: {value:.3f}x" + (f" (goal {goal})" if goal else ""))
    for note in notes:
        print(f"  {note}")

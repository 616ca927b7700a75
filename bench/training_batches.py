"""One epoch's first batches of a workspace's training set, with the model and objective that train
on them: what the training benchmarks measure steps on."""

from __future__ import annotations

import os
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


def load_training(workspace: Path, batches: int) -> TrainingSetup:
    """Changes into ``workspace`` (whose ``encode`` stage has run) and loads its base models, its
    stored training states and the first phase's objective; ``plan`` is the first ``batches``
    batches the trainer's sampler draws."""
    os.chdir(workspace)
    from components.config import load_params
    from components.data.manifest import DATA_ROOT, read_manifest
    from components.modeling.base_models import read_sources
    from components.modeling.encoder_states import encoder_key
    from components.modeling.speech_llm import SpeechLLM
    from components.stages.train import corpus_languages, load_examples
    from components.training.trainer import run_settings, task_sampler
    from components.workspace import VALIDATED_DIR

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

"""Adapter training: only trainable parameters reach the optimiser; frozen modules stay in eval mode."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from components.config import TrainParams
from components.modeling.speech_llm import SpeechLLM, collate_features
from components.training.schedule import OptimiserSettings, optimise


@dataclass(frozen=True)
class Example:
    """One training example: features of the clip, the instruction, and the target text."""

    id: str
    features: np.ndarray
    instruction: str
    target: str


@dataclass
class TrainResult:
    steps: list[dict[str, float]] = field(default_factory=list)
    dev_loss_before: float = float("nan")
    dev_loss_after: float = float("nan")
    seconds: float = 0.0

    def summary(self) -> dict[str, float]:
        last = self.steps[-10:]
        return {
            "steps": len(self.steps),
            "final_train_loss": float(np.mean([s["loss"] for s in last])) if last else float("nan"),
            "dev_loss_before": self.dev_loss_before,
            "dev_loss_after": self.dev_loss_after,
            "train_seconds": round(self.seconds, 2),
        }


def batch_loss(model: SpeechLLM, batch: Sequence[Example]) -> torch.Tensor:
    features, mask = collate_features([e.features for e in batch])
    slots = model.speech_slots(features, mask)
    return model.loss([e.instruction for e in batch], slots, [e.target for e in batch])


@torch.no_grad()
def mean_loss(model: SpeechLLM, examples: Sequence[Example], batch_size: int) -> float:
    """Token-weighted enough for monitoring: the mean of batch losses over a fixed order."""
    if not examples:
        return float("nan")
    was_training = model.training
    model.eval()
    losses = [
        float(batch_loss(model, examples[i : i + batch_size])) for i in range(0, len(examples), batch_size)
    ]
    model.train(was_training)
    return float(np.mean(losses))


def train_adapter(
    model: SpeechLLM,
    train: Sequence[Example],
    dev: Sequence[Example],
    params: TrainParams,
    progress: bool = True,
) -> TrainResult:
    """AdamW over the adapter with warm-up + cosine; batches drawn by a seeded permutation."""
    if not train:
        raise ValueError("train: no training examples (is the train split empty?)")
    result = TrainResult(dev_loss_before=mean_loss(model, dev, params.batch_size))
    generator = torch.Generator().manual_seed(params.seed)
    order: list[int] = []

    def next_batch_loss(_: int) -> torch.Tensor:
        if len(order) < params.batch_size:
            order.extend(torch.randperm(len(train), generator=generator).tolist())
        batch = [train[i] for i in order[: params.batch_size]]
        del order[: params.batch_size]
        return batch_loss(model, batch)

    settings = OptimiserSettings(
        params.steps, params.lr, params.weight_decay, params.warmup_steps, params.grad_clip
    )
    start = time.perf_counter()
    model.train()
    result.steps = optimise(
        model.trainable_parameters(), next_batch_loss, settings, "training adapter", progress
    )
    model.eval()
    result.seconds = time.perf_counter() - start
    result.dev_loss_after = mean_loss(model, dev, params.batch_size)
    return result

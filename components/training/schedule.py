"""Learning-rate schedule (linear warm-up, then cosine decay to zero) and the loop that uses it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from components.training.distributed import World, average_gradients
from components.training.grad_norm import clip_grad_norm


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the peak learning rate at ``step`` (0-based)."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@dataclass(frozen=True)
class OptimiserSettings:
    """AdamW with warm-up + cosine and gradient clipping: what every training loop here shares."""

    steps: int
    lr: float
    weight_decay: float
    warmup_steps: int
    grad_clip: float
    accumulation: int = 1  # micro-batches whose gradients make one optimiser step


def optimise(
    parameters: list[torch.nn.Parameter],
    batch_loss: Callable[[int], torch.Tensor],
    settings: OptimiserSettings,
    description: str,
    progress: bool = True,
    resume: dict[str, Any] | None = None,
    after_step: Callable[[int, dict[str, Any]], None] | None = None,
    world: World | None = None,
) -> list[dict[str, float]]:
    """Run ``settings.steps`` AdamW steps on ``batch_loss(step)``; returns per-step loss and lr.

    Each step sums the gradients of ``settings.accumulation`` calls of ``batch_loss(step)`` (each loss
    divided by that count, so a step's gradient is their mean and the recorded loss its mean): the
    gradient of a batch that many times larger, for one micro-batch's activation memory. With a
    ``world`` of several processes, the gradients and the loss are averaged over the ranks before the
    step (see :mod:`components.training.distributed`).

    ``resume`` (a ``loop`` state passed to ``after_step`` earlier: optimiser, scheduler, history)
    continues a stopped loop at its next step. ``after_step(done, loop)`` runs after every step.
    """
    from tqdm import tqdm

    optimiser = torch.optim.AdamW(parameters, lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: warmup_cosine(step, settings.warmup_steps, settings.steps)
    )
    history: list[dict[str, float]] = []
    if resume is not None:
        optimiser.load_state_dict(resume["optimiser"])
        scheduler.load_state_dict(resume["scheduler"])
        history = list(resume["history"])
    start = len(history)
    bar = tqdm(
        range(start, settings.steps),
        desc=description,
        disable=not progress,
        initial=start,
        total=settings.steps,
    )
    for step in bar:
        optimiser.zero_grad(set_to_none=True)
        value = 0.0
        for _ in range(settings.accumulation):
            loss = batch_loss(step) / settings.accumulation
            loss.backward()
            value += loss.item()
        if world is not None and world.size > 1:
            average_gradients(parameters, world)
            value = world.average(torch.tensor(value, dtype=torch.float64)).item()
        clip_grad_norm(parameters, settings.grad_clip)  # a norm that does not follow the thread count
        optimiser.step()
        scheduler.step()
        history.append({"step": step, "loss": value, "lr": optimiser.param_groups[0]["lr"]})
        bar.set_postfix(loss=f"{value:.3f}")
        if after_step is not None:
            loop = {
                "optimiser": optimiser.state_dict(),
                "scheduler": scheduler.state_dict(),
                "history": history,
            }
            after_step(step + 1, loop)
    return history

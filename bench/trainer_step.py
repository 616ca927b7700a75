"""The trainer's optimiser step against a minimal hand-written PyTorch loop on the same model and batches.

Measured side by side in one process on a workspace whose ``encode`` stage has run (``make demo``
leaves one in ``.``): the first phase's trainable groups and losses, the first ``BATCHES`` batches a
sampler over every training task draws, and the same objective
(:func:`components.training.trainer.batch_loss`) in both. The trainer's step is
:func:`components.training.schedule.optimise` (warm-up + cosine schedule, a clipping norm in a fixed
order, the loss history); the hand loop is AdamW, ``backward``, ``clip_grad_norm_`` and ``step``.
Each mode starts from the same weights and runs twice, interleaved with the other, and the faster
pass counts. Prints seconds per step and their ratio; nothing here asserts a time.
Run: ``python -m bench.trainer_step [WORKSPACE] [BATCHES]``.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from bench.training_batches import fastest, load_training, report, workspace_and_count


def main(workspace: Path = Path("."), batches: int = 24) -> None:
    from components.training.schedule import OptimiserSettings, optimise
    from components.training.trainer import batch_loss

    setup = load_training(workspace, batches)
    model, train, plan = setup.model, setup.params.train, setup.plan
    phase = train.phases[0]
    groups = model.parameter_groups()
    parameters = [p for group in phase.train for p in groups[group]]
    for name, members in groups.items():
        for parameter in members:
            parameter.requires_grad_(name in phase.train)
    start_weights = [p.detach().clone() for p in parameters]

    def loss(step: int) -> torch.Tensor:
        return batch_loss(model, plan[step], setup.losses, train, setup.settings)["objective"]

    def trainer() -> None:
        settings = OptimiserSettings(
            len(plan), phase.lr or train.lr, train.weight_decay, train.warmup_steps, train.grad_clip
        )
        optimise(parameters, loss, settings, "trainer", progress=False)

    def hand_loop() -> None:
        optimiser = torch.optim.AdamW(parameters, lr=phase.lr or train.lr, weight_decay=train.weight_decay)
        for step in range(len(plan)):
            optimiser.zero_grad(set_to_none=True)
            loss(step).backward()
            torch.nn.utils.clip_grad_norm_(parameters, train.grad_clip)
            optimiser.step()

    def timed(run) -> float:
        with torch.no_grad():
            for parameter, weights in zip(parameters, start_weights, strict=True):
                parameter.copy_(weights)
        began = time.perf_counter()
        run()
        return (time.perf_counter() - began) / len(plan)

    model.train()
    timed(hand_loop)  # warm-up
    timings = fastest({"hand loop": lambda: timed(hand_loop), "trainer": lambda: timed(trainer)})
    report(
        f"trainer step, {Path.cwd()}: phase {phase.name} ({', '.join(phase.train)}), batch "
        f"{train.batch_size}, {batches} steps per pass, precision {train.precision}, "
        f"{torch.get_num_threads()} threads",
        {name: f"{seconds:8.3f} s/step" for name, seconds in timings.items()},
        "trainer / hand loop",
        timings["trainer"] / timings["hand loop"],
        "<= 1.05x",
    )


if __name__ == "__main__":
    main(*workspace_and_count(24))  # fewer steps: a 5 % ratio is within the noise of 8 steps

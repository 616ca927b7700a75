"""Training steps under bf16 autocast against fp32 on the CPU.

Measured side by side in one process on a workspace whose ``encode`` stage has run (``make demo``
leaves one in ``.``): the same batches forward and backward through the first phase's objective,
once with ``train.precision: fp32`` and once with ``bf16``, interleaved twice, the faster pass
counting. Also prints whether this CPU computes bf16 in hardware (``precision: auto`` picks bf16 only
where it does) and how far the bf16 objective is from the fp32 one. Nothing here asserts a time.
Run: ``python -m bench.precision [WORKSPACE] [BATCHES]``.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from bench.training_batches import fastest, load_training, report, workspace_and_count


def main(workspace: Path = Path("."), batches: int = 4) -> None:
    from components.compute import cpu_has_bf16
    from components.training.trainer import batch_loss

    setup = load_training(workspace, batches)
    model = setup.model
    trains = {p: setup.params.train.model_copy(update={"precision": p}) for p in ("fp32", "bf16")}
    objectives: dict[str, list[float]] = {}

    def timed(precision: str) -> float:
        values = []
        began = time.perf_counter()
        for batch in setup.plan:
            objective = batch_loss(model, batch, setup.losses, trains[precision], setup.settings)["objective"]
            objective.backward()
            model.zero_grad(set_to_none=True)
            values.append(float(objective.detach()))
        objectives[precision] = values
        return (time.perf_counter() - began) / len(setup.plan)

    model.train()
    timed("fp32")  # warm-up
    timings = fastest({p: lambda p=p: timed(p) for p in ("fp32", "bf16")})
    gap = max(abs(a - b) for a, b in zip(objectives["fp32"], objectives["bf16"], strict=True))
    report(
        f"precision, {Path.cwd()}: batch {setup.params.train.batch_size}, {batches} steps per pass, "
        f"{torch.get_num_threads()} threads, CPU computes bf16 in hardware: {cpu_has_bf16()}",
        {p: f"{timings[p]:8.3f} s/step" for p in ("fp32", "bf16")},
        "speed-up (fp32 / bf16)",
        timings["fp32"] / timings["bf16"],
        notes=[f"largest |objective difference| between the two: {gap:.2e}"],
    )


if __name__ == "__main__":
    main(*workspace_and_count(4))

"""Training steps with the LLM's output projection over every position against only the positions
that predict a target token.

Measured side by side in one process on a workspace whose ``encode`` stage has run (``make demo``
leaves one in ``.``; ``make real-demo`` one in ``.speechalign/real-demo``): the same batches, forward
and backward through the first phase's objective in the workspace's precision. The baseline is the
model's own fallback (full logits, then the target positions gathered). Prints seconds per step and
how far each mode's steps raised resident memory above what was resident before them (the kernel's
high-water mark, reset between modes through ``/proc/self/clear_refs``), and their ratios; nothing
here asserts a time.
Run: ``python -m bench.target_logits [WORKSPACE] [BATCHES]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from bench.training_batches import load_training


def memory_mib(field: str) -> float | None:
    """``VmHWM`` (resident high-water mark) or ``VmRSS`` of this process in MiB; None where /proc
    does not say."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current resident size (Linux ≥ 4.0); False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def main(workspace: Path = Path("."), batches: int = 4) -> None:
    from components.training.trainer import batch_loss

    setup = load_training(workspace, batches)
    model, params = setup.model, setup.params
    vocabulary = model.llm.get_output_embeddings().weight.shape[0]

    def steps(targets_only: bool) -> tuple[float, float | None]:
        """Seconds per step, and MiB the steps' peak rose above the resident size before them."""
        model._split_checked = targets_only  # False: the model's own full-logits path
        resettable = reset_peak_rss()
        before = memory_mib("VmRSS")
        start = time.perf_counter()
        for batch in setup.plan:
            batch_loss(model, batch, setup.losses, params.train, setup.settings)["objective"].backward()
            model.zero_grad(set_to_none=True)
        seconds = (time.perf_counter() - start) / len(setup.plan)
        peak = memory_mib("VmHWM")
        if not resettable or peak is None or before is None:
            return seconds, None
        return seconds, peak - before

    model.train()
    model._head_split()  # check the split once, outside the timings
    if not model._split_checked:
        print(f"{type(model.llm).__name__}: the projection cannot be split from this LLM; nothing to compare")
        return
    steps(True)  # warm-up
    results = {mode: steps(mode) for mode in (False, True)}
    print(
        f"target logits, {Path.cwd()}: vocabulary {vocabulary}, batch {params.train.batch_size}, "
        f"{batches} steps measured, precision {params.train.precision}, {torch.get_num_threads()} threads"
    )
    for mode, label in ((False, "every position     "), (True, "target positions   ")):
        seconds, peak = results[mode]
        memory = f"peak {peak:7.0f} MiB above the model" if peak is not None else "peak not measurable"
        print(f"  {label} {seconds:8.3f} s/step  {memory}")
    (full_s, full_peak), (target_s, target_peak) = results[False], results[True]
    print(f"  speed-up of a step (every / target): {full_s / target_s:.2f}x")
    if full_peak is not None and target_peak is not None and target_peak > 0:
        print(f"  memory of a step (every / target): {full_peak / target_peak:.2f}x")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("."), int(sys.argv[2]) if len(sys.argv) > 2 else 4)

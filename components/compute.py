"""How a stage computes: the autocast precision of its forward passes and the CPU threads it uses.

Weights stay in float32 whatever the precision ("master weights": the optimiser updates fp32
parameters); ``bf16`` runs matrix products inside ``torch.autocast`` (PyTorch's automatic mixed
precision), which CPUs with bf16 units (AVX-512 BF16, AMX) and every CUDA GPU since Ampere run about
1.5-2x faster. Losses upcast their logits to float32 before any softmax.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Literal

Precision = Literal["fp32", "bf16"]
THREADS_ENV = "SPEECHALIGN_THREADS"


@contextlib.contextmanager
def precision_scope(precision: Precision, device_type: str = "cpu") -> Iterator[None]:
    """Run the block's forward passes in ``precision``: ``fp32`` changes nothing, ``bf16`` autocasts
    matrix products to bfloat16 on ``device_type`` (``cpu`` or ``cuda``)."""
    import torch

    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        yield


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, which containers and ``taskset``
    narrow), not the machine's count that torch assumes."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity call on this platform
        return os.cpu_count() or 1


def thread_count() -> int:
    """``SPEECHALIGN_THREADS`` when set, else the usable cores.

    Raises ValueError naming the variable when it is not a positive integer.
    """
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return usable_cores()
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{THREADS_ENV}={raw!r}: expected a positive whole number of threads")
    return int(raw)


def set_threads() -> int:
    """Give torch's intra-op pool one thread per usable core (more threads than cores spin against
    each other and against any other process on the cores); returns the count."""
    import torch

    count = thread_count()
    torch.set_num_threads(count)
    return count

"""How a stage computes: the device it runs on, the autocast precision of its forward passes and the
CPU threads it uses.

Weights stay in float32 whatever the precision ("master weights": the optimiser updates fp32
parameters); ``bf16`` runs matrix products inside ``torch.autocast`` (PyTorch's automatic mixed
precision), which CPUs with bf16 units (AVX-512 BF16, AMX) and every CUDA GPU since Ampere run about
1.5-2x faster. Losses upcast their logits to float32 before any softmax. A CPU without them (AVX2
only, as many AMD EPYC and older Intel parts) converts in software, and bf16 runs slower than fp32
there: a 4-step real-speech training ran past 40 minutes on one. ``auto`` picks bf16 only where the
hardware computes it.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

Precision = Literal["fp32", "bf16", "auto"]
Device = Literal["auto", "cpu", "cuda"]
THREADS_ENV = "SPEECHALIGN_THREADS"
MAX_THREADS_PER_CPU = 8  # oversubscribing on purpose is allowed, up to here
CPU_INFO = Path("/proc/cpuinfo")
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})  # Linux's names for the CPU's bf16 instructions


def cpu_has_bf16(cpuinfo: Path = CPU_INFO) -> bool:
    """Whether the CPU's flags (Linux's ``/proc/cpuinfo``) list AVX-512 BF16 or AMX BF16; False where
    the file cannot be read (another OS)."""
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(BF16_FLAGS & set(line.partition(":")[2].split()))
    return False


@cache
def native_bf16(device_type: str = "cpu") -> bool:
    """Whether ``device_type`` computes bfloat16 in hardware: a CUDA GPU that supports it, or a CPU
    with bf16 instructions."""
    if device_type == "cuda":
        import torch

        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return cpu_has_bf16()


def resolve_precision(precision: Precision, device_type: str = "cpu") -> Literal["fp32", "bf16"]:
    """``auto`` as bf16 where the device computes it in hardware, else fp32; the others as they are."""
    if precision == "auto":
        return "bf16" if native_bf16(device_type) else "fp32"
    return precision


def resolve_device(device: Device, option: str) -> torch.device:
    """``auto`` as a CUDA GPU where torch sees one, else the CPU. The GPU is ``cuda:LOCAL_RANK``, so
    each process ``torchrun`` starts on a machine takes its own.

    Raises:
        ValueError: ``cuda`` where torch sees no CUDA device, or fewer devices than ``LOCAL_RANK``
            needs, naming ``option`` (e.g. ``train.device``).
    """
    import torch

    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"{option}: cuda, but torch sees no CUDA device here (use auto or cpu)")
    local = os.environ.get("LOCAL_RANK", "0")
    index = int(local) if local.isdigit() else 0
    if index >= torch.cuda.device_count():
        raise ValueError(
            f"{option}: process {index} on this machine, but torch sees {torch.cuda.device_count()} "
            "CUDA devices (start at most one process per GPU)"
        )
    torch.cuda.set_device(index)  # so that nothing of this process lands on GPU 0 by default
    return torch.device("cuda", index)


@contextlib.contextmanager
def precision_scope(precision: Precision, device_type: str = "cpu") -> Iterator[None]:
    """Run the block's forward passes in ``precision``: ``fp32`` changes nothing, ``bf16`` autocasts
    matrix products to bfloat16 on ``device_type`` (``cpu`` or ``cuda``), ``auto`` is bf16 where the
    device computes it in hardware (:func:`resolve_precision`)."""
    import torch

    enabled = resolve_precision(precision, device_type) == "bf16"
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=enabled):
        yield


CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "QUOTA PERIOD" or "max PERIOD"


def usable_cores() -> int:
    """The cores this process may really use: the fewest of its affinity mask (``taskset``, container
    CPU sets), the machine's physical cores (two hyperthreads of one core share its matrix units) and
    its cgroup CPU quota (``docker --cpus``, Kubernetes CPU limits), rounded up."""
    import psutil

    try:
        counts = [len(os.sched_getaffinity(0))]
    except AttributeError:  # no affinity call on this platform
        counts = [os.cpu_count() or 1]
    counts.append(psutil.cpu_count(logical=False) or counts[0])
    quota = cgroup_quota(CPU_MAX)
    if quota is not None:
        counts.append(quota)
    return max(1, min(counts))


def cgroup_quota(path: Path) -> int | None:
    """Cores a cgroup v2 ``cpu.max`` file allows (quota / period, rounded up), or None without a limit."""
    try:
        quota, period = path.read_text(encoding="ascii").split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def thread_count() -> int:
    """``SPEECHALIGN_THREADS`` when set, else the usable cores shared among the processes ``torchrun``
    started on this machine (``LOCAL_WORLD_SIZE``), at least one each.

    Raises ValueError naming the variable when it is not a positive integer, or asks for more than
    :data:`MAX_THREADS_PER_CPU` threads per logical CPU (a typo, which torch and onnxruntime would
    otherwise try to start).
    """
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        local = os.environ.get("LOCAL_WORLD_SIZE", "1")
        return max(1, usable_cores() // (int(local) if local.isdigit() and int(local) > 0 else 1))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{THREADS_ENV}={raw!r}: expected a positive whole number of threads")
    most = MAX_THREADS_PER_CPU * (os.cpu_count() or 1)
    if int(raw) > most:
        raise ValueError(
            f"{THREADS_ENV}={raw!r}: more than {most} threads ({MAX_THREADS_PER_CPU} per logical CPU)"
        )
    return int(raw)


def set_threads() -> int:
    """Give torch's intra-op pool one thread per usable core (more threads than cores spin against
    each other and against any other process on the cores); returns the count."""
    import torch

    count = thread_count()
    torch.set_num_threads(count)
    return count

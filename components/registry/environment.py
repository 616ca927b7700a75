"""What an auditor needs besides data and code hashes: the software and machine a version was built
with, and what validation said of its data.

Recorded beside the lineage, never in its fingerprint: the same inputs trained on another machine are
the same pipeline state, but an auditor must be able to tell the two machines apart.
"""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

# The libraries whose versions change what a version computes or how it was stored, each with the
# distributions that provide it (onnxruntime's CUDA build is another distribution of the same module).
PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "torchaudio": ("torchaudio",),
    "transformers": ("transformers",),
    "peft": ("peft",),
    "numpy": ("numpy",),
    "mlflow": ("mlflow",),
    "dvc": ("dvc",),
    "prefect": ("prefect",),
    "great_expectations": ("great_expectations",),
    "onnx": ("onnx",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
}


def package_versions(packages: dict[str, tuple[str, ...]] = PACKAGES) -> dict[str, str]:
    """Python's version and each package's installed version (``1.26.0 (onnxruntime-gpu)`` where
    another distribution provides it); ``absent`` where none is installed."""
    versions = {"python": platform.python_version()}
    for name, distributions in packages.items():
        versions[name] = "absent"
        for distribution in distributions:
            try:
                version = metadata.version(distribution)
            except metadata.PackageNotFoundError:
                continue
            versions[name] = version if distribution == name else f"{version} ({distribution})"
            break
    return versions


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's marketing name (``model name`` on Linux), else what ``platform`` says, else unknown."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def memory_gib() -> str:
    """Physical memory in GiB, one decimal; unknown where the OS does not say."""
    try:
        return f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f}"
    except (ValueError, OSError, AttributeError):
        return "unknown"


def hardware() -> dict[str, str]:
    """CPU, cores, memory, and the GPU and CUDA torch sees (``none`` on a CPU-only machine)."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": str(os.cpu_count() or "unknown"),
        "memory_gib": memory_gib(),
        "gpu": torch.cuda.get_device_name(0) if cuda else "none",
        "gpu_count": str(torch.cuda.device_count() if cuda else 0),
        "cuda": (torch.version.cuda or "none") if cuda else "none",
    }


def validation_summary(metrics_file: Path) -> dict[str, Any]:
    """The validate stage's headline (rows, expectations run and failed, quarantined rows) from its
    ``metrics/validation.json``; empty when the stage has not written one."""
    if not metrics_file.is_file():
        return {}
    report = json.loads(metrics_file.read_text(encoding="utf-8"))
    quarantine = report.get("quarantine") or {}
    return {
        "success": bool(report.get("success")),
        "rows": report.get("rows"),
        "expectations_evaluated": report.get("expectations_evaluated"),
        "expectations_failed": report.get("expectations_failed"),
        "critical_failed": report.get("critical_failed"),
        "quarantined_rows": quarantine.get("rows", 0),
        "failed_rules": sorted({failure.get("rule", "") for failure in report.get("failures") or []}),
    }

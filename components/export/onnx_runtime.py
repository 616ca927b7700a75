"""onnxruntime inference for the exported speech path, with the provider checked, never assumed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from components.compute import thread_count


class ProviderError(RuntimeError):
    """onnxruntime did not activate the execution provider that was asked for."""


def open_session(onnx_path: Path, provider: str, threads: int | None = None) -> Any:
    """An InferenceSession whose first active provider is ``provider``, or a ProviderError.

    Its intra-op pool has ``threads`` threads, by default ``components.compute.thread_count()``
    (``SPEECHALIGN_THREADS`` or the usable cores; a bad value raises ValueError naming it). The last bits
    of some outputs follow that count (a batch of one is split otherwise), so figures that must repeat
    on any worker pass a fixed count."""
    import onnxruntime as ort

    if provider != "CPUExecutionProvider":  # torch loads the CUDA libraries onnxruntime-gpu links against
        import torch  # noqa: F401

    wanted = [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # as torch's pool: one thread per usable core; onnxruntime's default counts every physical core
    # and its spinning threads steal cores from other processes in a container or beside a job
    options.intra_op_num_threads = threads or thread_count()
    session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=wanted)
    active = session.get_providers()
    if active[0] != provider:
        raise ProviderError(f"{onnx_path}: asked for {provider} but onnxruntime activated {active}")
    return session


def run_speech_path(
    session: Any, features: np.ndarray, feature_mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    embeds, mask = session.run(None, {"features": features.astype(np.float32), "feature_mask": feature_mask})
    return embeds, mask

"""Parity between PyTorch and onnxruntime over several batch sizes × clip lengths, and latency."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from components.export.onnx_runtime import run_speech_path
from components.modeling.encoder import InputSpec
from components.modeling.speech_llm import SpeechPath


def parity_inputs(
    spec: InputSpec, batch: int, seconds: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch whose clips have different true lengths (the longest is ``seconds``), zero-padded."""
    frames = max(spec.min_frames, int(seconds * spec.frames_per_second))
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, spec.channels, frames, generator=generator)
    mask = torch.zeros(batch, frames, dtype=torch.long)
    for row in range(batch):
        length = max(spec.min_frames, frames - row * frames // (2 * batch))
        mask[row, :length] = 1
        features[row, :, length:] = 0
    return features, mask


def check_parity(
    speech: SpeechPath,
    session: Any,
    batch_sizes: Sequence[int],
    lengths_s: Sequence[float],
    atol: float,
) -> dict[str, Any]:
    """Max |Δ| of embeddings over real positions and exact mask equality, for every combination."""
    spec = speech.encoder.input_spec()
    cases, worst = [], 0.0
    torch_s, onnx_s = 0.0, 0.0
    speech.eval()
    for batch in batch_sizes:
        for seconds in lengths_s:
            features, mask = parity_inputs(spec, batch, seconds, seed=batch * 1000 + int(seconds * 10))
            start = time.perf_counter()
            with torch.no_grad():
                ref_embeds, ref_mask = speech(features, mask)
            torch_s += time.perf_counter() - start
            start = time.perf_counter()
            embeds, out_mask = run_speech_path(session, features.numpy(), mask.numpy())
            onnx_s += time.perf_counter() - start
            same_mask = embeds.shape == tuple(ref_embeds.shape) and np.array_equal(out_mask, ref_mask.numpy())
            diff = float(np.abs(embeds - ref_embeds.numpy()).max()) if same_mask else float("inf")
            worst = max(worst, diff)
            cases.append({"batch": batch, "seconds": seconds, "max_abs_diff": diff, "mask_equal": same_mask})
    return {
        "passed": bool(worst <= atol),
        "max_abs_diff": worst,
        "atol": atol,
        "cases": cases,
        "torch_seconds": round(torch_s, 4),
        "onnxruntime_seconds": round(onnx_s, 4),
    }

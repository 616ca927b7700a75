"""Parity of the onnxruntime speech → text path with PyTorch on real clips, and its int8 variant.

For each clip: the speech embeddings from the same real log-mel (padding excluded) within a tolerance,
and the greedy text of the whole path (features computed by each runtime from the same waveform) equal
to PyTorch's. The int8 variant (onnxruntime's dynamic quantisation of every graph's weights) reports how
often its answer is the fp32 graphs' answer, and its size.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from components.export.decoder_export import DECODER_FILES, WEIGHTS_FILE
from components.export.shared_weights import share_weights, stored_bytes
from components.export.speech_to_text import SpeechToText
from components.modeling.speech_llm import SpeechLLM


def check_text_parity(
    model: SpeechLLM,
    runtime: SpeechToText,
    clips: Sequence[tuple[str, np.ndarray, str]],
    max_new_tokens: int,
    atol: float,
) -> tuple[dict[str, Any], list[str]]:
    """(report, onnxruntime answers) over ``clips`` of (id, mono waveform, instruction)."""
    worst_embeds, worst_features, differing = 0.0, 0.0, []
    answers, torch_s, onnx_s = [], 0.0, 0.0
    for uid, wave, instruction in clips:
        start = time.perf_counter()
        with torch.no_grad():
            features, mask = model.features([wave])
            slots = model.speech_slots(features, mask)
            expected = model.generate([instruction], slots, max_new_tokens)[0]
        torch_s += time.perf_counter() - start
        start = time.perf_counter()
        own_features = runtime.features(wave)  # computed once: for the answer and for the comparison
        answer = runtime.generate(instruction, runtime.speech_embeds(own_features), max_new_tokens)
        onnx_s += time.perf_counter() - start
        answers.append(answer)
        same_input = runtime.speech_embeds(features[0].numpy())  # the same real log-mel, no padding
        worst_embeds = max(worst_embeds, float(np.abs(same_input - slots[0].numpy()).max()))
        worst_features = max(worst_features, float(np.abs(own_features - features[0].numpy()).max()))
        if answer != expected:
            differing.append(uid)
    report = {
        "clips": len(clips),
        "same_text": len(clips) - len(differing),
        "differing_ids": differing,
        "speech_embeds_max_abs_diff": worst_embeds,
        "features_max_abs_diff": worst_features,
        "atol": atol,
        "passed": not differing and worst_embeds <= atol,
        "provider": runtime.provider,
        "torch_seconds": round(torch_s, 3),
        "onnxruntime_seconds": round(onnx_s, 3),
    }
    return report, answers


def quantize_directory(source: Path, target: Path) -> Path:
    """A copy of an exported directory with every graph's weights dynamically quantised to int8; the
    decoder graphs' int8 weights shared in one file again, as in ``source``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        if path.suffix == ".onnx":
            # protobuf caps one file at 2 GB: weights saved beside the graph stay beside it
            large = path.name in DECODER_FILES or path.with_name(path.name + ".data").is_file()
            quantize_dynamic(
                path, target / path.name, weight_type=QuantType.QInt8, use_external_data_format=large
            )
        elif path.is_file() and path.suffix != ".data":
            shutil.copy2(path, target / path.name)
    decoders = [target / name for name in DECODER_FILES if (target / name).is_file()]
    if decoders:
        share_weights(decoders, WEIGHTS_FILE)
    return target


def check_int8(
    fp32_dir: Path,
    int8_dir: Path,
    clips: Sequence[tuple[str, np.ndarray, str]],
    fp32_answers: Sequence[str],
    max_new_tokens: int,
    provider: str,
    threads: int | None = None,
) -> dict[str, Any]:
    """How often the int8 graphs answer as the fp32 graphs do, and both sizes (``threads``: as
    :class:`~components.export.speech_to_text.SpeechToText`'s)."""
    runtime = SpeechToText(quantize_directory(fp32_dir, int8_dir), provider, threads)
    start = time.perf_counter()
    answers = [runtime.answer(wave, instruction, max_new_tokens) for _, wave, instruction in clips]
    seconds = time.perf_counter() - start
    same = sum(a == b for a, b in zip(answers, fp32_answers, strict=True))
    return {
        "agreement": round(same / len(clips), 4) if clips else None,
        "same_text": same,
        "clips": len(clips),
        "fp32_bytes": stored_bytes(fp32_dir),
        "int8_bytes": stored_bytes(int8_dir),
        "onnxruntime_seconds": round(seconds, 3),
    }

"""Whole speech → text decoding: onnxruntime (fp32 and int8) against PyTorch eager, side by side.

One model (the tiny demo encoder and LLM, the adapter's weights scaled so that answers vary), exported
once; the same clips answered one at a time by PyTorch (features, speech path, ``generate``) and by
:class:`components.export.speech_to_text.SpeechToText` (numpy features, onnxruntime graphs, greedy
loop over the KV cache). Prints clips per second, the ratios, and how many answers are identical; the
goals (onnxruntime ≥ 1.5× eager at equal text, int8 ≥ 2× with ≥ 99 % identical answers) are read off,
never asserted. Also the speech path alone. Run: ``make bench-onnx`` (or ``python -m bench.speech_to_text``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bench.speech_path import TEXTS
from components.config import TinyEncoderParams, TinyLLMParams
from components.export.bundle import export_speech_to_text
from components.export.shared_weights import stored_bytes
from components.export.speech_to_text import SpeechToText
from components.export.text_parity import quantize_directory
from components.modeling.base_models import build_tiny_encoder, build_tiny_llm
from components.modeling.speech_llm import SpeechLLM

INSTRUCTION = "Repeat."


def timed_answers(answer: Callable[[np.ndarray], str], waves: list[np.ndarray]) -> tuple[float, list[str]]:
    """Clips per second over ``waves`` (after one warm-up answer) and the answers."""
    answer(waves[0])
    start = time.perf_counter()
    answers = [answer(wave) for wave in waves]
    return len(waves) / (time.perf_counter() - start), answers


def main(clips: int = 96, max_new_tokens: int = 32) -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    waves = [
        (0.2 * rng.standard_normal(int(16000 * (1.0 + 0.25 * (i % 8))))).astype(np.float32)
        for i in range(clips)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_tiny_encoder(TinyEncoderParams(), root / "encoder", seed=0, sample_rate=16000)
        build_tiny_llm(TinyLLMParams(vocab_size=300), TEXTS * 10, root / "llm", seed=0)
        model = SpeechLLM.from_base(str(root / "encoder"), str(root / "llm"))
        with torch.no_grad():
            for parameter in model.speech.adapter.parameters():
                parameter.mul_(3.0)
        fp32_dir = export_speech_to_text(model, root / "onnx", 18, max_new_tokens)
        int8_dir = quantize_directory(fp32_dir, root / "int8")
        fp32, int8 = SpeechToText(fp32_dir), SpeechToText(int8_dir)

        def eager(wave: np.ndarray) -> str:
            with torch.no_grad():
                features, mask = model.features([wave])
                return model.generate([INSTRUCTION], model.speech_slots(features, mask), max_new_tokens)[0]

        rates, answers = {}, {}
        for name, answer in (
            ("pytorch eager", eager),
            ("onnxruntime fp32", lambda w: fp32.answer(w, INSTRUCTION, max_new_tokens)),
            ("onnxruntime int8", lambda w: int8.answer(w, INSTRUCTION, max_new_tokens)),
        ):
            rates[name], answers[name] = timed_answers(answer, waves)
        features = [fp32.features(w) for w in waves]
        speech_rates = {
            "pytorch eager": timed_answers(lambda w: str(eager_speech(model, w)), waves)[0],
            "onnxruntime fp32": timed_answers(lambda f: str(fp32.speech_embeds(f).shape), features)[0],
        }
        sizes = {"fp32": stored_bytes(fp32_dir), "int8": stored_bytes(int8_dir)}
    tokens = np.mean([len(a) for a in answers["pytorch eager"]])
    print(
        f"speech → text, {clips} clips of 1-2.75 s, up to {max_new_tokens} new tokens"
        f" ({tokens:.0f} characters on average), {torch.get_num_threads()} threads"
    )
    base = rates["pytorch eager"]
    for name, rate in rates.items():
        same = sum(a == b for a, b in zip(answers[name], answers["pytorch eager"], strict=True))
        print(
            f"  {name:<18} {rate:8.2f} clips/s  ratio {rate / base:5.2f}x  answers as eager's: {same}/{clips}"
        )
    same8 = sum(a == b for a, b in zip(answers["onnxruntime int8"], answers["onnxruntime fp32"], strict=True))
    print(
        f"  int8 answers as fp32's: {same8}/{clips};"
        f" graphs {sizes['int8'] / 1e6:.2f} MB against {sizes['fp32'] / 1e6:.2f} MB"
    )
    print("speech path alone, one clip at a time")
    for name, rate in speech_rates.items():
        print(f"  {name:<18} {rate:8.2f} clips/s  ratio {rate / speech_rates['pytorch eager']:5.2f}x")


def eager_speech(model: SpeechLLM, wave: np.ndarray) -> torch.Size:
    """The PyTorch speech path alone, from the waveform (features included, as the runtime's)."""
    with torch.no_grad():
        features, mask = model.features([wave])
        return model.speech_slots(features, mask)[0].shape


if __name__ == "__main__":
    main()

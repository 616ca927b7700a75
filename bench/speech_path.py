"""Speech-path throughput: onnxruntime against PyTorch on the same inputs, measured side by side.

Prints clips per second for both and their ratio; nothing here asserts a time.
Run: ``make bench`` (or ``python -m bench.speech_path``).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from components.config import TinyEncoderParams, TinyLLMParams
from components.export.onnx_export import export_speech_path
from components.export.onnx_runtime import open_session, run_speech_path
from components.export.parity import parity_inputs
from components.modeling.base_models import build_tiny_encoder, build_tiny_llm
from components.modeling.speech_llm import SpeechLLM

TEXTS = [
    "the cat sees the dog.",
    "le chat voit le chien.",
    "der Hund sieht die Katze.",
    "el perro ve al gato.",
]


def clips_per_second(run, batch: int, repeats: int) -> float:
    run()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        run()
    return batch * repeats / (time.perf_counter() - start)


def main(batch: int = 8, seconds: float = 4.0, repeats: int = 20) -> None:
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_tiny_encoder(TinyEncoderParams(), root / "encoder", seed=0, sample_rate=16000)
        build_tiny_llm(TinyLLMParams(vocab_size=300), TEXTS * 10, root / "llm", seed=0)
        model = SpeechLLM.from_base(str(root / "encoder"), str(root / "llm"))
        session = open_session(
            export_speech_path(model.speech, root / "speech.onnx", 18), "CPUExecutionProvider"
        )
        features, mask = parity_inputs(model.speech.encoder.input_spec(), batch, seconds, seed=0)
        with torch.no_grad():
            torch_rate = clips_per_second(lambda: model.speech(features, mask), batch, repeats)
        onnx_rate = clips_per_second(
            lambda: run_speech_path(session, features.numpy(), mask.numpy()), batch, repeats
        )
    print(f"speech path, batch {batch} x {seconds:.1f} s, {torch.get_num_threads()} threads")
    print(f"  pytorch      {torch_rate:9.1f} clips/s")
    print(f"  onnxruntime  {onnx_rate:9.1f} clips/s")
    print(f"  ratio onnxruntime/pytorch: {onnx_rate / torch_rate:.2f}")


if __name__ == "__main__":
    main()

"""What answers the registered model's requests: the PyTorch speech-LLM, or its ONNX export on
onnxruntime (``registry.serving.runtime``). Both give the limits the pyfunc checks and the answers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


class TorchEngine:
    """The speech-LLM itself, in bounded batches."""

    def __init__(self, model: Any, batch_size: int = 16) -> None:
        self.model, self.batch_size = model, batch_size
        self.sampling_rate = model.feature_extractor.sampling_rate
        self.max_seconds, self.min_seconds = model.max_input_seconds, model.min_input_seconds
        self.context = getattr(model.llm.config, "max_position_embeddings", None)

    def prompt_tokens(self, instruction: str) -> int:
        return self.model.prompt_tokens(instruction)

    def answer(
        self, pieces: Sequence[np.ndarray], instructions: Sequence[str], max_new_tokens: int
    ) -> list[str]:
        import torch

        answers: list[str] = []
        with torch.no_grad():  # bounded batches: one long file cut into many chunks cannot exhaust memory
            for start in range(0, len(pieces), self.batch_size):
                batch = pieces[start : start + self.batch_size]
                slots = self.model.speech_slots(*self.model.features(batch))
                answers += self.model.generate(
                    instructions[start : start + len(batch)], slots, max_new_tokens
                )
        return answers


class OnnxEngine:
    """The exported directory run by :class:`components.export.speech_to_text.SpeechToText`, one clip
    at a time (its parity with PyTorch was checked at export)."""

    def __init__(self, directory: str | Path, provider: str = "CPUExecutionProvider") -> None:
        from components.export.speech_to_text import SpeechToText

        self.runtime = SpeechToText(directory, provider)
        config = self.runtime.config
        self.sampling_rate = self.runtime.sampling_rate
        self.max_seconds, self.min_seconds = config["max_seconds"], config["min_seconds"]
        self.context = config["max_positions"]

    def prompt_tokens(self, instruction: str) -> int:
        prefix, suffix = self.runtime.prompt_ids(instruction)
        return len(prefix) + len(suffix)

    def answer(
        self, pieces: Sequence[np.ndarray], instructions: Sequence[str], max_new_tokens: int
    ) -> list[str]:
        return [
            self.runtime.answer(piece, instruction, max_new_tokens)
            for piece, instruction in zip(pieces, instructions, strict=True)
        ]

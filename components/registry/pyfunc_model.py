"""The registered model: an MLflow pyfunc that turns audio + an instruction into text.

It rebuilds the speech-LLM from its own artifacts (adapter, and the base models when they were local
directories), so ``mlflow.pyfunc.load_model("models:/NAME@ALIAS")`` works from any directory.
"""

from __future__ import annotations

import io
from typing import Any

import mlflow.pyfunc


def _waveform(audio: Any, sample_rate: int) -> Any:
    """A path, raw bytes of an audio file, or a float array → mono float32 at ``sample_rate``."""
    import numpy as np

    from components.data.audio import load_audio

    if isinstance(audio, (bytes, bytearray)):
        return load_audio(io.BytesIO(audio), sample_rate)
    if isinstance(audio, np.ndarray):
        return audio.astype(np.float32)
    return load_audio(str(audio), sample_rate)


class SpeechAlignModel(mlflow.pyfunc.PythonModel):
    """Input: a table with ``audio`` (file path or bytes) and ``instruction``; output: one text per row."""

    def load_context(self, context: Any) -> None:
        from components.modeling.speech_llm import SpeechLLM

        artifacts = context.artifacts
        overrides = {key: artifacts[key] for key in ("encoder", "llm") if key in artifacts}
        self.model = SpeechLLM.from_pretrained(artifacts["adapter"], base_overrides=overrides)
        self.max_new_tokens = (
            int(context.model_config.get("max_new_tokens", 32)) if context.model_config else 32
        )

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> list[str]:
        import pandas as pd
        import torch

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        missing = {"audio", "instruction"} - set(frame.columns)
        if missing:
            raise ValueError(f"model input is missing column(s) {sorted(missing)}")
        max_new_tokens = int((params or {}).get("max_new_tokens", self.max_new_tokens))
        rate = self.model.feature_extractor.sampling_rate
        waves = [_waveform(audio, rate) for audio in frame["audio"]]
        with torch.no_grad():
            slots = self.model.speech_slots(*self.model.features(waves))
            return self.model.generate(list(frame["instruction"]), slots, max_new_tokens)

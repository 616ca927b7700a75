"""The registered model: an MLflow pyfunc that turns audio + an instruction into text.

Logged as "models from code" (this file), so nothing is pickled. It rebuilds the speech-LLM from its
own artifacts (adapter, and the base models when they were local directories), so
``mlflow.pyfunc.load_model("models:/NAME@ALIAS")`` works from any directory.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
from mlflow.models import ModelSignature, set_model
from mlflow.types.schema import ColSpec, Schema

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "audio"), ColSpec("string", "instruction")]),
    outputs=Schema([ColSpec("string")]),
)


class SpeechAlignModel(mlflow.pyfunc.PythonModel):
    """Input: a table with ``audio`` (a file path) and ``instruction``; output: one text per row."""

    def load_context(self, context: Any) -> None:
        from components.modeling.speech_llm import SpeechLLM

        artifacts = context.artifacts
        overrides = {key: artifacts[key] for key in ("encoder", "llm") if key in artifacts}
        self.model = SpeechLLM.from_pretrained(artifacts["adapter"], base_overrides=overrides)
        self.max_new_tokens = int((context.model_config or {}).get("max_new_tokens", 32))

    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201 - MLflow infers from hints
        import torch

        from components.data.audio import load_audio

        max_new_tokens = int((params or {}).get("max_new_tokens", self.max_new_tokens))
        rate = self.model.feature_extractor.sampling_rate
        waves = [load_audio(str(path), rate) for path in model_input["audio"]]
        with torch.no_grad():
            slots = self.model.speech_slots(*self.model.features(waves))
            return self.model.generate(list(model_input["instruction"]), slots, max_new_tokens)


set_model(SpeechAlignModel())

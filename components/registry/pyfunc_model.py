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
    """Input: a table with ``audio`` (a file path) and ``instruction``; output: one text per row.

    Audio longer than the encoder reads is cut into near-equal chunks, each answered under the row's
    instruction and the answers joined, when the model was registered with ``too_long: split``;
    otherwise (``reject``) such a row is refused by name, as is a file with no samples.
    """

    def load_context(self, context: Any) -> None:
        from components.modeling.speech_llm import SpeechLLM

        artifacts = context.artifacts
        overrides = {key: artifacts[key] for key in ("encoder", "llm") if key in artifacts}
        self.model = SpeechLLM.from_pretrained(artifacts["adapter"], base_overrides=overrides)
        config = context.model_config or {}
        self.max_new_tokens = int(config.get("max_new_tokens", 32))
        self.too_long = str(config.get("too_long", "reject"))
        self.batch_size = int(config.get("batch_size", 16))

    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201 - MLflow infers from hints
        import torch

        from components.data.audio import fit_duration, load_audio

        max_new_tokens = int((params or {}).get("max_new_tokens", self.max_new_tokens))
        rate = self.model.feature_extractor.sampling_rate
        limit, shortest = self.model.max_input_seconds, self.model.min_input_seconds
        window = getattr(self.model.llm.config, "max_position_embeddings", None)
        rows, pieces, instructions = [], [], []
        requests = zip(model_input["audio"], model_input["instruction"], strict=True)
        for row, (path, instruction) in enumerate(requests):
            label = f"row {row} ({path})"
            prompt = self.model.prompt_tokens(instruction)
            if window is not None and prompt + max_new_tokens > window:
                raise ValueError(
                    f"row {row}: the instruction's prompt takes {prompt} tokens; with up to"
                    f" {max_new_tokens} new tokens it passes the LLM's context of {window} tokens"
                    " before any speech"
                )
            waveform = load_audio(str(path), rate)
            for piece in fit_duration(waveform, rate, limit, self.too_long, label, min_seconds=shortest):
                rows.append(row)
                pieces.append(piece)
                instructions.append(instruction)
        answers: list[str] = []
        with torch.no_grad():  # bounded batches: one long file cut into many chunks cannot exhaust memory
            for start in range(0, len(pieces), self.batch_size):
                batch = pieces[start : start + self.batch_size]
                slots = self.model.speech_slots(*self.model.features(batch))
                answers += self.model.generate(
                    instructions[start : start + len(batch)], slots, max_new_tokens
                )
        joined: list[list[str]] = [[] for _ in range(len(model_input))]
        for row, answer in zip(rows, answers, strict=True):
            joined[row].append(answer)
        return [" ".join(parts) for parts in joined]


set_model(SpeechAlignModel())

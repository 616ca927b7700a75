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

from components.registry.engines import OnnxEngine, TorchEngine
from components.registry.requests import Limits, request_audio

SIGNATURE = ModelSignature(
    inputs=Schema(
        [
            ColSpec("string", "audio", required=False),  # base64 of the audio file's bytes
            ColSpec("string", "audio_path", required=False),  # only under the served audio root
            ColSpec("string", "instruction"),
        ]
    ),
    outputs=Schema([ColSpec("string")]),
)


class SpeechAlignModel(mlflow.pyfunc.PythonModel):
    """Input: a table with ``instruction`` and, per row, either ``audio`` (base64 of the audio file's
    bytes) or ``audio_path`` (read only under the configured audio root); output: one text per row.
    A request past ``registry.serving``'s limits, or with any bad row, is refused as a whole with every
    bad row named (HTTP 400 from ``mlflow models serve``; see :mod:`components.registry.requests`).

    Audio longer than the encoder reads is cut into near-equal chunks, each answered under the row's
    instruction and the answers joined, when the model was registered with ``too_long: split``;
    otherwise (``reject``) such a row is refused by name, as is a file with no samples.

    ``runtime`` in the model config says what answers: ``pytorch`` (the speech-LLM rebuilt from its
    artifacts) or ``onnxruntime`` (the version's ONNX export, see :mod:`components.registry.engines`).
    """

    def load_context(self, context: Any) -> None:
        self.artifacts = context.artifacts
        config = context.model_config or {}
        if config.get("runtime", "pytorch") == "onnxruntime":
            self.engine = OnnxEngine(self.artifacts["onnx"])
        else:
            self.engine = TorchEngine(speech_llm(self.artifacts), int(config.get("batch_size", 16)))
        self.max_new_tokens = int(config.get("max_new_tokens", 32))
        self.too_long = str(config.get("too_long", "reject"))
        self.limits = Limits.from_config(config)

    @property
    def model(self) -> Any:
        """The PyTorch speech-LLM (rebuilt from the artifacts where the engine is onnxruntime), for
        what needs the model itself, as ``speechalign evaluate`` does."""
        return self.engine.model if isinstance(self.engine, TorchEngine) else speech_llm(self.artifacts)

    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201 - MLflow infers from hints
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        try:
            return self._answer(model_input, params)
        except ValueError as exc:  # the request's fault: a 400 naming it, not a 500
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None

    def _answer(self, model_input, params):  # noqa: ANN001, ANN202
        from components.data.audio import fit_duration

        max_new_tokens = int((params or {}).get("max_new_tokens", self.max_new_tokens))
        engine = self.engine
        rate, limit, shortest, window = (
            engine.sampling_rate,
            engine.max_seconds,
            engine.min_seconds,
            engine.context,
        )
        rows, pieces, instructions = [], [], []
        missing = [None] * len(model_input)
        audio = model_input.get("audio", missing)
        paths = model_input.get("audio_path", missing)
        waveforms = request_audio(list(audio), list(paths), self.limits, rate)
        requests = zip(waveforms, paths, model_input["instruction"], strict=True)
        for row, (waveform, path, instruction) in enumerate(requests):
            label = f"row {row} ({path if isinstance(path, str) and path else 'audio'})"
            prompt = engine.prompt_tokens(instruction)
            if window is not None and prompt + max_new_tokens > window:
                raise ValueError(
                    f"row {row}: the instruction's prompt takes {prompt} tokens; with up to"
                    f" {max_new_tokens} new tokens it passes the LLM's context of {window} tokens"
                    " before any speech"
                )
            for piece in fit_duration(waveform, rate, limit, self.too_long, label, min_seconds=shortest):
                rows.append(row)
                pieces.append(piece)
                instructions.append(instruction)
        answers = engine.answer(pieces, instructions, max_new_tokens)
        joined: list[list[str]] = [[] for _ in range(len(model_input))]
        for row, answer in zip(rows, answers, strict=True):
            joined[row].append(answer)
        return [" ".join(parts) for parts in joined]


def speech_llm(artifacts: dict[str, str]) -> Any:
    """The speech-LLM from a version's artifacts: its adapter, and its base models where they were local."""
    from components.modeling.speech_llm import SpeechLLM

    overrides = {key: artifacts[key] for key in ("encoder", "llm") if key in artifacts}
    return SpeechLLM.from_pretrained(artifacts["adapter"], base_overrides=overrides)


set_model(SpeechAlignModel())

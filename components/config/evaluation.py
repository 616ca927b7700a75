"""``evaluate`` and ``export``: zero-shot tasks, wordings, controls, and the ONNX parity grid."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from components.compute import Precision
from components.config.base import Section

WordedTask = Literal["asr", "st", "intent"]


class EvaluateParams(Section):
    """Zero-shot evaluation. ``wording_candidates`` (task → other wordings) are scored with the
    transcript as input on ``wording_rows`` dev utterances, beside the task's ``*_instruction``, and
    the best is used on the test split; ``text_ceiling_bar`` (task → CER at most, or chrF / accuracy
    at least, on that dev text input) leaves a task the LLM cannot do from text unscored."""

    asr_instruction: str = "Repeat the following speech word for word."
    st_instruction: str = "Translate the following speech into {language}."
    intent_instruction: str = "What is the intent of this sentence?"
    wording_candidates: dict[WordedTask, list[str]] = {}
    wording_rows: int = Field(32, gt=0)
    text_ceiling_bar: dict[WordedTask, float] = {}
    shuffle_seed: int = 0
    max_new_tokens: int = Field(32, gt=0, le=512)
    # None: every answer may run to max_new_tokens; else 8 + this × the query's seconds, if fewer
    new_tokens_per_second: float | None = Field(None, gt=0)
    batch_size: int = Field(16, gt=0)
    precision: Precision = "fp32"  # of every forward pass while answering
    split: Literal["dev", "test"] = "test"

    @field_validator("wording_candidates")
    @classmethod
    def _candidates(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for wording in value.get("st", []):
            if "{language}" not in wording:
                raise ValueError(f"st: {wording!r} has no {{language}} for the target language")
        return value

    def wording(self, task: str) -> str:
        """The configured wording of a worded task (``asr``, ``st``, ``intent``)."""
        return getattr(self, f"{task}_instruction")

    def all_wordings(self) -> set[str]:
        """Every wording evaluation may use: the configured ones and every candidate."""
        configured = {self.asr_instruction, self.st_instruction, self.intent_instruction}
        return configured.union(*self.wording_candidates.values())


class ExportParams(Section):
    opset: int = Field(18, ge=13)
    batch_sizes: list[int] = [1, 3]
    lengths_s: list[float] = [1.0, 2.3, 4.1]
    atol: float = Field(1e-4, gt=0)
    provider: Literal["CPUExecutionProvider", "CUDAExecutionProvider"] = "CPUExecutionProvider"

    @field_validator("batch_sizes", "lengths_s")
    @classmethod
    def _positive(cls, value: list[Any]) -> list[Any]:
        if not value or any(v <= 0 for v in value):
            raise ValueError("needs at least one value, all > 0")
        return value

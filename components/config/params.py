"""The whole ``params.yaml``, and reading it with one error that names every bad key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ConfigDict, Field, ValidationError, model_validator

from components.config.base import PARAMS_FILE, OptionProblems, Section
from components.config.evaluation import EvaluateParams, ExportParams
from components.config.prepare import (
    PrepareParams,
)
from components.config.registry import RegistryParams
from components.config.training import (
    RecipeName,
    TargetsParams,
    TrainParams,
)
from components.config.validate import ValidateParams


class Params(Section):
    """The whole ``params.yaml``."""

    recipe: RecipeName = "blsp"
    prepare: PrepareParams = PrepareParams()
    validate_: ValidateParams = Field(ValidateParams(), alias="validate")
    targets: TargetsParams = TargetsParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    export: ExportParams = ExportParams()
    registry: RegistryParams = RegistryParams()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def validate(self) -> ValidateParams:  # type: ignore[override]
        return self.validate_

    @model_validator(mode="after")
    def _instructions_taught(self) -> Params:
        """The tiny demo LLM knows only the wordings it was taught: refuse any other before training."""
        if self.prepare.base_models.llm != "tiny" or self.prepare.corpus.kind != "demo":
            return self
        taught = self.prepare.text_skills.instructions
        target_wordings = {
            "continuation": taught.continue_,
            "multi_instruction": taught.repeat,
            "transcripts": taught.repeat,
        }
        used = {
            "evaluate.asr_instruction": (self.evaluate.asr_instruction, taught.repeat),
            "evaluate.st_instruction": (self.evaluate.st_instruction, taught.translate),
            "evaluate.intent_instruction": (self.evaluate.intent_instruction, taught.intent),
        }
        if self.targets.source in target_wordings:
            # SpeechVerse's task labels need no LLM skill, so their paraphrases may be new to it.
            used["targets.instruction"] = (self.targets.instruction, target_wordings[self.targets.source])
        candidates = self.evaluate.wording_candidates
        for task, known in (("asr", taught.repeat), ("st", taught.translate), ("intent", taught.intent)):
            used.update({f"evaluate.wording_candidates.{task}": (w, known) for w in candidates.get(task, [])})
        for key, (wording, known) in used.items():
            if wording not in known:
                raise ValueError(
                    f"{key}: {wording!r} is not one of the wordings the tiny LLM is taught "
                    f"(prepare.text_skills.instructions): {known}"
                )
        return self


class ParamsError(ValueError):
    """``params.yaml`` is missing, unreadable or has a bad key or value."""


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{location}: unknown key"
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, OptionProblems):
        return "; ".join(f"{location}.{key}: {problem}" for key, problem in cause.problems.items())
    got = error.get("input")
    suffix = "" if isinstance(got, dict) else f" (got {got!r})"
    return f"{location}: {error['msg']}{suffix}"


def parse_params(raw: dict[str, Any], source: str = PARAMS_FILE) -> Params:
    """Validate a params mapping; the error names every offending key."""
    try:
        return Params.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ParamsError(f"{source}: {problems}") from None


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({exc})") from None
    if raw is not None and not isinstance(raw, dict):
        raise ParamsError(f"{path}: top level must be a mapping of stage sections")
    return parse_params(raw or {}, str(path))

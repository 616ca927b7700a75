"""Typed view of ``params.yaml``: one pydantic model per pipeline stage, a module per concern.

Every stage reads its parameters through :func:`load_params`, so an unknown key or a bad value
stops the run before anything is computed, with a message that names the key.
"""

from __future__ import annotations

from components.config.base import LANGUAGE_CODE, PARAMS_FILE, OptionProblems, Section
from components.config.evaluation import EvaluateParams, ExportParams, WordedTask
from components.config.params import Params, ParamsError, load_params, parse_params
from components.config.prepare import (
    CORPUS_KINDS,
    BaseModelsParams,
    CorpusKind,
    CorpusParams,
    PrepareParams,
    SkillInstructions,
    TextSkillsParams,
    TinyEncoderParams,
    TinyLLMParams,
)
from components.config.registry import PromotionGates, RegistryParams, ServingLimits
from components.config.training import (
    RECIPES,
    AdapterKind,
    AdapterParams,
    LoraParams,
    LossName,
    PhaseParams,
    RecipeName,
    TargetSource,
    TargetsParams,
    TrainableGroup,
    TrainParams,
    Variant,
)
from components.config.validate import AudioPolicy, LeakageChecks, ValidateParams

__all__ = [
    "AdapterKind",
    "AdapterParams",
    "AudioPolicy",
    "BaseModelsParams",
    "CORPUS_KINDS",
    "CorpusKind",
    "CorpusParams",
    "EvaluateParams",
    "ExportParams",
    "LANGUAGE_CODE",
    "LeakageChecks",
    "LoraParams",
    "LossName",
    "OptionProblems",
    "PARAMS_FILE",
    "Params",
    "PromotionGates",
    "ServingLimits",
    "ParamsError",
    "PhaseParams",
    "PrepareParams",
    "RECIPES",
    "RecipeName",
    "RegistryParams",
    "Section",
    "SkillInstructions",
    "TargetSource",
    "TargetsParams",
    "TextSkillsParams",
    "TinyEncoderParams",
    "TinyLLMParams",
    "TrainParams",
    "TrainableGroup",
    "ValidateParams",
    "Variant",
    "WordedTask",
    "load_params",
    "parse_params",
]

"""``targets`` and ``train``: recipes, target sources, adapters, LoRA and the phases of training."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import ConfigDict, Field, field_validator, model_validator

from components.compute import Device, Precision
from components.config.base import OptionProblems, Section

RecipeName = Literal["blsp", "bloomzmms", "speechverse", "wav2prompt"]
RECIPES: tuple[str, ...] = get_args(RecipeName)
TargetSource = Literal["continuation", "multi_instruction", "tasks", "transcripts"]
Variant = Literal["t", "mi", "tmi"]  # multi_instruction: transcript only, instructions only, or both
AdapterKind = Literal["conv_glu", "stack_swiglu", "conv_downsampler", "encoder_blocks", "cif"]
LossName = Literal["ce", "kl", "ctc", "mse", "quantity", "lid_ctc"]
TrainableGroup = Literal["adapter", "layers", "lora"]


class TargetsParams(Section):
    """What the training targets are and how the frozen LLM writes them.

    ``continuation`` (BLSP): the LLM continues each transcript after ``instruction``.
    ``multi_instruction`` (BLOOMZMMS): T = the transcript after ``instruction``; MI = the LLM's answers
    to ``templates_per_transcript`` templates drawn per transcript; TMI = both.
    ``tasks`` (SpeechVerse): ASR, translation, intent and QA labels under paraphrased instructions.
    ``transcripts`` (Wav2Prompt): the transcript after ``instruction``, plus the labelled rows of
    ``few_shot_tasks`` for an optional few-shot phase (a phase's ``examples`` caps how many it uses).
    """

    source: TargetSource = "continuation"
    instruction: str = "Continue the following text."
    variant: Variant = "tmi"
    templates_per_transcript: int = Field(2, ge=1, le=50)
    few_shot_tasks: list[Literal["st", "intent", "qa"]] = []
    max_new_tokens: int = Field(24, gt=0, le=512)
    batch_size: int = Field(16, gt=0)
    precision: Precision = "fp32"  # of the LLM's forward passes while it writes targets
    device: Device = "auto"  # where the LLM writes them: auto is a CUDA GPU where torch sees one
    engine: Literal["hf", "vllm"] = "hf"  # vllm: on a GPU machine, in a worker process
    vllm_python: str | None = None  # the interpreter of an environment with vLLM (default: this one)
    # seconds the vLLM worker may take to load the LLM or to answer one batch before it is stopped
    vllm_timeout_s: float = Field(1800.0, gt=0, allow_inf_nan=False)
    workers: int = Field(1, ge=1)  # > 1: batches fanned out as Prefect tasks on a local Dask cluster
    dask_address: str | None = None  # a running Dask scheduler whose workers take the batches instead


class AdapterParams(Section):
    """Which adapter sits between encoder and LLM; other keys are that adapter's own config fields.

    ``layer_weighted`` feeds it a learnable weighted sum of every encoder layer instead of the last.
    """

    kind: AdapterKind = "conv_glu"
    layer_weighted: bool = False

    model_config = ConfigDict(extra="allow", frozen=True)

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _options_are_the_adapter_fields(self) -> AdapterParams:
        if not self.model_extra:  # nothing to check; and importing config stays free of torch
            return self
        from components.modeling.adapter_registry import option_problems

        problems = option_problems(self.kind, self.options())
        if problems:
            raise OptionProblems(problems)
        return self


class LoraParams(Section):
    """LoRA on the LLM through peft; ``target_modules`` are the LLM's module names it wraps."""

    r: int = Field(8, gt=0)
    alpha: float = Field(16.0, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] = ["q_proj", "v_proj"]

    @field_validator("target_modules")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one module name")
        return value


class PhaseParams(Section):
    """One training phase: how long, on which target tasks (sampling weights), with which losses.

    Phases run in order on the same weights, so a later phase starts where the previous one ended.
    ``examples`` keeps only that many training examples (few-shot fine-tuning).
    """

    name: str = Field(min_length=1)
    steps: int = Field(gt=0)
    tasks: dict[str, float] = {}
    losses: dict[LossName, float] = {"ce": 1.0}
    train: list[TrainableGroup] = ["adapter", "layers"]
    lr: float | None = Field(None, gt=0)
    examples: int | None = Field(None, gt=0)

    @field_validator("tasks", "losses")
    @classmethod
    def _positive_weights(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, w in value.items() if w <= 0]
        if bad:
            raise ValueError(f"weights must be > 0 (got {bad[0]}: {value[bad[0]]})")
        if not value:
            raise ValueError("needs at least one entry")
        return value


class TrainParams(Section):
    seed: int = 0
    batch_size: int = Field(8, gt=0)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.05, ge=0)
    warmup_steps: int = Field(20, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    kl_temperature: float = Field(2.0, gt=0)
    eot_weight: float = Field(1.0, ge=0)
    # the ctc loss: the LLM special token used as CTC blank, by role (pad/eos/bos/unk) or as spelled
    ctc_blank: str = Field("pad", min_length=1)
    precision: Precision = "fp32"  # of every forward pass; the weights that train stay float32
    device: Device = "auto"  # where training runs: auto is a CUDA GPU where torch sees one, else the CPU
    checkpoint_every: int = Field(50, ge=0)  # steps between checkpoints (0: only when stopped)
    # micro-batches of batch_size whose gradients make one optimiser step (the batch a step sees)
    gradient_accumulation_steps: int = Field(1, ge=1)
    gradient_checkpointing: bool = False  # recompute the LLM's layer activations in the backward pass
    # under torchrun: shard the frozen LLM's decoder layers over the processes (FSDP) instead of a copy each
    fsdp: bool = False
    adapter: AdapterParams = AdapterParams()
    lora: LoraParams | None = None
    phases: list[PhaseParams] = [PhaseParams(name="align", steps=200, tasks={"continuation": 1.0})]

    @model_validator(mode="after")
    def _phases(self) -> TrainParams:
        if not self.phases:
            raise ValueError("phases: needs at least one phase")
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            raise ValueError(f"phases: names must be unique (got {names})")
        for phase in self.phases:
            if "lora" in phase.train and self.lora is None:
                raise ValueError(f"phases.{phase.name}: trains lora but train.lora is not set")
            if "quantity" in phase.losses and self.adapter.kind != "cif":
                raise ValueError(f"phases.{phase.name}: the quantity loss needs the cif adapter")
            if "lid_ctc" in phase.losses and self.adapter.options().get("lid_block") is None:
                raise ValueError(
                    f"phases.{phase.name}: the lid_ctc loss needs a language-ID head "
                    "(train.adapter: kind encoder_blocks with lid_block set)"
                )
        if self.adapter.options().get("lid_block") is not None and not any(
            "lid_ctc" in phase.losses for phase in self.phases
        ):
            raise ValueError(
                "adapter.lid_block: no phase trains the language-ID head (add lid_ctc to a phase's losses, "
                "or set lid_block: null)"
            )
        return self

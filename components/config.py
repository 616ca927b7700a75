"""Typed view of ``params.yaml``: one pydantic model per pipeline stage.

Every stage reads its parameters through :func:`load_params`, so an unknown key or a bad value
stops the run before anything is computed, with a message that names the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from components.compute import Precision
from components.modeling.prompts import BLSP_TEMPLATE, check_template

PARAMS_FILE = "params.yaml"
LANGUAGE_CODE = Annotated[str, Field(pattern=r"^[a-z]{3}$")]


class Section(BaseModel):
    """Base for every params section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True)


class TinyEncoderParams(Section):
    """A Whisper-style encoder built from a config, for the embedded default."""

    d_model: int = Field(64, gt=0)
    layers: int = Field(2, gt=0)
    heads: int = Field(4, gt=0)
    ffn_dim: int = Field(128, gt=0)
    num_mel_bins: int = Field(80, gt=0)
    max_seconds: float = Field(10.0, gt=0)
    # Whisper's own 0.02 leaves a random encoder's output ~98% positional embedding; 0.2 keeps the audio.
    init_std: float = Field(0.2, gt=0)


class TinyLLMParams(Section):
    """A Llama-style causal LM and a BPE tokenizer trained on the corpus text, for the embedded default."""

    hidden_size: int = Field(64, gt=0)
    layers: int = Field(2, gt=0)
    heads: int = Field(4, gt=0)
    kv_heads: int = Field(2, gt=0)
    intermediate_size: int = Field(128, gt=0)
    vocab_size: int = Field(1000, ge=300)


class BaseModelsParams(Section):
    """Where the frozen encoder and LLM come from: ``tiny`` builds them locally, else an HF id or path.

    ``prompt_template`` lays out the prompt for an LLM whose tokenizer has no chat template (the tiny
    one is taught in it); an LLM with a chat template is prompted in that instead.
    """

    encoder: str = "tiny"
    llm: str = "tiny"
    prompt_template: str = BLSP_TEMPLATE
    # the system turn for an LLM with a chat template; null keeps the template's own default, if any
    system_prompt: str | None = None
    tiny_encoder: TinyEncoderParams = TinyEncoderParams()
    tiny_llm: TinyLLMParams = TinyLLMParams()

    @field_validator("prompt_template")
    @classmethod
    def _template_has_both_slots(cls, template: str) -> str:
        return check_template(template)


class SkillInstructions(Section):
    """Instruction wordings per text task; ``{language}`` in a translate wording names the target."""

    repeat: list[str] = [
        "Repeat the following speech word for word.",
        "Say exactly what you hear.",
        "Write down these words.",
    ]
    continue_: list[str] = Field(
        ["Continue the following text.", "What happens next?", "Go on with the story."], alias="continue"
    )
    translate: list[str] = [
        "Translate the following speech into {language}.",
        "Say this in {language}.",
        "Give the {language} version.",
    ]
    intent: list[str] = [
        "What is the intent of this sentence?",
        "Name the kind of action.",
        "Which intent is this?",
    ]

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("repeat", "continue_", "translate", "intent")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if not value or any(not wording.strip() for wording in value):
            raise ValueError("needs at least one wording, none of them empty")
        return value

    def by_task(self) -> dict[str, list[str]]:
        return {
            "repeat": self.repeat,
            "continue": self.continue_,
            "translate": self.translate,
            "intent": self.intent,
        }


class TextSkillsParams(Section):
    """How the tiny demo LLM is taught its corpus's text tasks before any speech is seen.

    Only used when ``base_models.llm`` is ``tiny``: a pretrained LLM already has its skills.
    """

    steps: int = Field(2000, ge=1)
    batch_size: int = Field(64, gt=0)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_steps: int = Field(100, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    extra_sentences: int = Field(5000, ge=0)
    check_sentences: int = Field(64, ge=1)
    # Max std of Gaussian noise on the sentence's embeddings, relative to the embedding RMS; each example
    # draws its own level. An LLM that only read clean tokens lets a speech slot override its instruction.
    slot_noise: float = Field(1.0, ge=0)
    # Each token of the sentence repeated 1..slot_repeat times: speech gives the LLM several frames per
    # word, and an LLM that never read a slot that long loses sight of the instruction before it.
    slot_repeat: int = Field(5, ge=1)
    instructions: SkillInstructions = SkillInstructions()


CorpusKind = Literal["demo", "jsonl", "csv", "hf", "commonvoice", "librispeech", "fleurs", "covost2"]
CORPUS_KINDS: tuple[str, ...] = get_args(CorpusKind)


class CorpusParams(Section):
    """Where prepare's utterances come from: ``demo`` synthesises them, any other kind imports ``source``.

    ``source`` is in params (not only on a command line) so that pointing at another corpus re-runs
    ``prepare``; ``language`` keeps only that language's rows, and labels rows whose layout has none.
    """

    kind: CorpusKind = "demo"
    source: str | None = None
    language: str | None = None
    # the source's files as last imported (components.data.importers.snapshot), written by the tools
    snapshot: str | None = None

    @field_validator("language")
    @classmethod
    def _iso639_3(cls, value: str | None) -> str | None:
        from components.data.languages import iso639_3

        return None if value is None else iso639_3(value)

    @model_validator(mode="after")
    def _source_matches_kind(self) -> CorpusParams:
        if self.kind == "demo" and (self.source or self.language or self.snapshot):
            raise ValueError(
                "kind demo synthesises its corpus (prepare.languages);"
                " source, language and snapshot are for imports"
            )
        if self.kind != "demo" and not self.source:
            raise ValueError(f"kind {self.kind} imports a corpus: set source to its path")
        return self


class PrepareParams(Section):
    seed: int = 0
    corpus: CorpusParams = CorpusParams()
    languages: list[LANGUAGE_CODE] = ["eng", "spa"]
    sentences_per_language: int = Field(600, ge=3, le=5000)
    sample_rate: int = Field(16000, gt=0)
    dev_share: float = Field(0.05, ge=0, lt=1)
    test_share: float = Field(0.1, ge=0, lt=1)
    voice_variants: int = Field(3, ge=1, le=4)
    base_models: BaseModelsParams = BaseModelsParams()
    text_skills: TextSkillsParams = TextSkillsParams()

    @field_validator("languages")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one language")
        return value


class AudioPolicy(Section):
    """What the loaders may do to audio that is not already what the encoder reads.

    The loaders resample and down-mix on read; a policy that is off makes validation refuse such
    files instead (a critical failure), for corpora whose rate and channels must be exact. An import
    then keeps each file's own rate or channels, so that validation sees them.
    """

    resample: bool = True
    downmix: bool = True
    # reject: an over-long utterance stops the pipeline. split: its transcript cannot be cut without an
    # alignment, so the row is quarantined. The registered model follows the same policy for audio longer
    # than its encoder reads: refused by name, or cut into chunks whose answers are joined.
    too_long: Literal["reject", "split"] = "reject"


class LeakageChecks(Section):
    """Which overlaps with train fail validation: a dev or test row sharing train's transcript or speaker."""

    transcript: bool = True
    speaker: bool = True


class ValidateParams(Section):
    languages: list[LANGUAGE_CODE] = ["eng", "fra", "deu", "spa"]
    sample_rate: int = Field(16000, gt=0)
    min_sample_rate: int = Field(8000, gt=0)
    min_duration_s: float = Field(0.2, ge=0)
    # None: as long as the encoder reads (Whisper's 30 s positional table, the tiny encoder's max_seconds)
    max_duration_s: float | None = Field(None, gt=0)
    min_text_chars: int = Field(1, ge=1)
    max_text_chars: int = Field(400, gt=1)
    min_chars_per_second: float = Field(2.0, ge=0)
    max_chars_per_second: float = Field(35.0, gt=0)
    min_peak: float = Field(0.001, ge=0, le=1)
    max_peak: float = Field(4.0, gt=0)  # float audio past this (12 dB over full scale) is not a recording
    max_clipped_share: float = Field(0.1, ge=0, le=1)
    duration_tolerance_s: float = Field(0.05, ge=0)
    max_quarantine_share: float = Field(0.05, ge=0, le=1)
    audio: AudioPolicy = AudioPolicy()
    leakage: LeakageChecks = LeakageChecks()

    def with_encoder_limit(self, encoder_max_seconds: float) -> ValidateParams:
        """These params with ``max_duration_s`` filled in from the encoder when it is not set."""
        if self.max_duration_s is not None:
            return self
        return self.model_copy(update={"max_duration_s": encoder_max_seconds})

    @model_validator(mode="after")
    def _ranges(self) -> ValidateParams:
        ranges = [
            ("min_sample_rate", "sample_rate"),
            ("min_duration_s", "max_duration_s"),
            ("min_text_chars", "max_text_chars"),
            ("min_chars_per_second", "max_chars_per_second"),
        ]
        for low, high in ranges:
            if getattr(self, high) is not None and getattr(self, low) > getattr(self, high):
                raise ValueError(
                    f"{low} ({getattr(self, low)}) must not exceed {high} ({getattr(self, high)})"
                )
        return self


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


class OptionProblems(ValueError):
    """Problems with keys a section takes from its kind (an adapter's own fields), key by key."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {problem}" for key, problem in problems.items()))
        self.problems = problems


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
    checkpoint_every: int = Field(50, ge=0)  # steps between checkpoints (0: only when stopped)
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


class RegistryParams(Section):
    model_name: str = Field("speechalign", min_length=1)
    experiment: str = Field("speechalign", min_length=1)
    stage_timeout_s: int = Field(3600, gt=0)
    challenger_alias: str = "challenger"


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

"""``prepare``: the corpus (the embedded demo or an imported one), the base models, the demo LLM's
text lessons."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import ConfigDict, Field, field_validator, model_validator

from components.config.base import LANGUAGE_CODE, Section
from components.modeling.prompts import BLSP_TEMPLATE, check_template


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
    ``prepare``; ``language`` keeps only that language's rows, and labels rows whose layout has none or
    whose label cannot be read (``Klingon (Earth)``), keeping that label as the row's ``locale``.
    ``text_column`` picks the transcript where a layout has several (``hf``: any column; ``fleurs``:
    ``raw_transcription`` or ``transcription``); by default both read the raw (cased, punctuated) one.
    """

    kind: CorpusKind = "demo"
    source: str | None = None
    language: str | None = None
    text_column: str | None = None
    # the source's files as last imported (components.data.importers.snapshot), written by the tools
    snapshot: str | None = None

    @field_validator("language")
    @classmethod
    def _iso639_3(cls, value: str | None) -> str | None:
        from components.data.languages import iso639_3

        return None if value is None else iso639_3(value)

    @model_validator(mode="after")
    def _source_matches_kind(self) -> CorpusParams:
        if self.kind == "demo" and (self.source or self.language or self.snapshot or self.text_column):
            raise ValueError(
                "kind demo synthesises its corpus (prepare.languages);"
                " source, language, text_column and snapshot are for imports"
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

"""The frozen base models: built tiny from configs for the embedded default, or loaded by HF id/path.

Both kinds go through ``from_pretrained``, so the tiny default exercises the same loading code that a
real checkpoint (``openai/whisper-small``, a Llama or BLOOMZ id, or a local directory) takes. A
CTranslate2 Whisper folder or a GGUF file is converted once to an HF directory first
(:mod:`components.checkpoints.convert`); ``sources.json`` records its format and sha256, so the
lineage names the exact bytes and a changed file re-converts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.config import BaseModelsParams, TinyEncoderParams, TinyLLMParams
from components.modeling.prompts import BLSP_TEMPLATE, check_template
from components.workspace import BASE_DIR

SOURCES_FILE = "sources.json"
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}


@dataclass(frozen=True)
class BaseModelSources:
    """Where the encoder and the LLM are loaded from (a local directory or a hub id), and the prompt
    layout used with an LLM that has no chat template: downstream stages read it here, so a change
    to it re-runs them."""

    encoder: str
    llm: str
    prompt_template: str = BLSP_TEMPLATE
    # role → {"format": ctranslate2 | gguf, "sha256": …} for sources converted from another format
    checkpoints: dict[str, dict[str, str]] = field(default_factory=dict)
    system_prompt: str | None = None  # the system turn of an LLM with a chat template
    prompt: dict[str, str | None] = field(default_factory=dict)  # the layout really used (prompt_record)

    def model_id(self, role: str, named: str) -> str:
        """How records name a base model: as the params named it, with the sha256 of a converted one
        (never the cache folder it happens to be converted into)."""
        record = self.checkpoints.get(role)
        return f"{named}@sha256:{record['sha256']}" if record else named

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "encoder": self.encoder,
            "llm": self.llm,
            "prompt_template": self.prompt_template,
            "system_prompt": self.system_prompt,
            "prompt": self.prompt,
        }
        if self.checkpoints:
            record["checkpoints"] = self.checkpoints
        return record


def write_sources(base_dir: Path, sources: BaseModelSources) -> None:
    base_dir.mkdir(parents=True, exist_ok=True)
    (base_dir / SOURCES_FILE).write_text(json.dumps(sources.to_json(), indent=2) + "\n", encoding="utf-8")


def read_sources_record(base_dir: Path = BASE_DIR) -> dict[str, Any]:
    """``sources.json`` as written: the params' sources, the prompt layout and converted checkpoints."""
    path = Path(base_dir) / SOURCES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run the prepare stage first")
    return json.loads(path.read_text(encoding="utf-8"))


def read_sources(base_dir: Path = BASE_DIR) -> BaseModelSources:
    """Resolve the sources recorded by ``prepare`` into what ``from_pretrained`` loads: relative local
    paths are taken from ``base_dir``; a converted checkpoint is its cached HF directory (converted
    again from its source on a machine that has not, if the source's sha256 still matches)."""
    from components.checkpoints.convert import load_path

    path = Path(base_dir) / SOURCES_FILE
    raw = read_sources_record(base_dir)
    checkpoints = raw.get("checkpoints", {})

    def resolve(role: str) -> str:
        source = raw[role]
        if role in checkpoints:
            return load_path({"source": source, **checkpoints[role]})
        # Kept relative to the workspace so outputs do not depend on where the repo is checked out.
        local = Path(base_dir) / source
        return local.as_posix() if local.exists() else source

    template = raw.get("prompt_template", BLSP_TEMPLATE)
    try:
        check_template(template)
    except ValueError as error:
        raise ValueError(f"{path}: prompt_template: {error}") from None
    return BaseModelSources(
        encoder=resolve("encoder"),
        llm=resolve("llm"),
        prompt_template=template,
        checkpoints=checkpoints,
        system_prompt=raw.get("system_prompt"),
        prompt=raw.get("prompt", {}),
    )


def train_tokenizer(texts: Iterable[str], vocab_size: int, out_dir: Path) -> Any:
    """Train a byte-level BPE tokenizer on the corpus text and save it the HF way."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(sorted(set(texts)), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIAL_TOKENS)
    wrapped.save_pretrained(out_dir)
    return wrapped


def build_tiny_llm(params: TinyLLMParams, texts: Iterable[str], out_dir: Path, seed: int) -> None:
    """A Llama-style causal LM with random weights and a tokenizer trained on ``texts``."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    tokenizer = train_tokenizer(texts, params.vocab_size, out_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=params.hidden_size,
        intermediate_size=params.intermediate_size,
        num_hidden_layers=params.layers,
        num_attention_heads=params.heads,
        num_key_value_heads=params.kv_heads,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir)


def build_tiny_encoder(params: TinyEncoderParams, out_dir: Path, seed: int, sample_rate: int) -> None:
    """A Whisper-style model (its encoder is what we use) plus its feature extractor."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    frames = math.ceil(params.max_seconds * 50)  # encoder output rate is 50 Hz
    config = WhisperConfig(
        vocab_size=16,
        num_mel_bins=params.num_mel_bins,
        d_model=params.d_model,
        encoder_layers=params.layers,
        encoder_attention_heads=params.heads,
        encoder_ffn_dim=params.ffn_dim,
        decoder_layers=1,
        decoder_attention_heads=params.heads,
        decoder_ffn_dim=params.ffn_dim,
        max_source_positions=frames,
        max_target_positions=16,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
        init_std=params.init_std,
    )
    torch.manual_seed(seed)
    WhisperModel(config).save_pretrained(out_dir)
    extractor = WhisperFeatureExtractor(
        feature_size=params.num_mel_bins,
        sampling_rate=sample_rate,
        chunk_length=math.ceil(params.max_seconds),
    )
    extractor.save_pretrained(out_dir)


def prepare_base_models(
    params: BaseModelsParams, corpus_texts: list[str], base_dir: Path, seed: int, sample_rate: int
) -> BaseModelSources:
    """Build what is ``tiny``; convert (once, cached) what is not in HF's format; record ids or paths
    of the rest; write ``sources.json``. Returns the sources as recorded (tiny ones relative to
    ``base_dir``, converted ones as the params name them).

    Raises:
        CheckpointError: a source to convert is unreadable, incomplete or fails its check.
    """
    from transformers import AutoTokenizer

    from components.checkpoints.convert import resolve_source
    from components.modeling.prompts import prompt_record

    named = {"encoder": params.encoder, "llm": params.llm}
    load = dict(named)
    checkpoints: dict[str, dict[str, str]] = {}
    for role, source in named.items():
        if source == "tiny":
            if role == "encoder":
                build_tiny_encoder(params.tiny_encoder, base_dir / role, seed, sample_rate)
            else:
                build_tiny_llm(params.tiny_llm, corpus_texts, base_dir / role, seed)
            named[role] = role  # the folder inside base_dir
            load[role] = str(base_dir / role)
            continue
        resolved = resolve_source(source)
        load[role] = resolved.load_path
        if resolved.format != "hf":
            checkpoints[role] = {"format": resolved.format, "sha256": str(resolved.sha256)}
    # the layout records name is the one prompts are really rendered in (a chat template wins)
    prompt = prompt_record(
        AutoTokenizer.from_pretrained(load["llm"]), params.prompt_template, params.system_prompt
    )
    sources = BaseModelSources(
        named["encoder"], named["llm"], params.prompt_template, checkpoints, params.system_prompt, prompt
    )
    write_sources(base_dir, sources)
    return sources


def load_encoder(source: str) -> tuple[Any, Any]:
    """Load a speech encoder and its feature extractor by id or path (encoder-decoders give their encoder).

    Only encoder-decoders are cut down: HF's ``get_encoder`` on a wav2vec2-family model returns its
    Transformer stack without the conv feature extractor, which could not take a waveform.
    """
    from transformers import AutoFeatureExtractor, AutoModel

    model = AutoModel.from_pretrained(source, dtype="float32")
    if getattr(model.config, "is_encoder_decoder", False):
        model = model.get_encoder()
    return model, AutoFeatureExtractor.from_pretrained(source)


def load_llm(source: str) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer by id or path."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(source, dtype="float32")
    return model, tokenizer


def encoder_max_seconds(source: str) -> float:
    """Seconds of audio the encoder at ``source`` (an HF id or directory) reads in one pass.

    Whisper: its positional table (``max_source_positions`` frames after conv2 halves 100 mel frames/s),
    30 s for the released models; the wav2vec2 family has no table, and gets the exported graph's bound.
    """
    from transformers import AutoConfig

    from components.modeling.encoder import MEL_FRAMES_PER_SECOND, WAV2VEC2_FAMILY, WAV2VEC2_MAX_SECONDS

    config = AutoConfig.from_pretrained(source)
    if config.model_type in WAV2VEC2_FAMILY:
        return float(WAV2VEC2_MAX_SECONDS)
    return 2 * config.max_source_positions / MEL_FRAMES_PER_SECOND

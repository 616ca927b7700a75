"""Tiny base models: built deterministically from configs, recorded in sources.json, loaded the HF way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_prepare_records_hub_ids_as_is_and_builds_only_what_is_tiny(
    tmp_path: Path, tiny_base_dirs, tiny_texts
) -> None:
    import torch
    from safetensors.torch import load_file

    from components.config import BaseModelsParams, TinyLLMParams
    from components.modeling.base_models import SOURCES_FILE, prepare_base_models, read_sources

    template = "<s>Task: {instruction}\nAudio: <|speech|>\nAnswer:"
    params = BaseModelsParams(
        encoder="openai/whisper-tiny", tiny_llm=TinyLLMParams(vocab_size=300), prompt_template=template
    )
    sources = prepare_base_models(params, tiny_texts, tmp_path, seed=0, sample_rate=16000)
    expected = {
        "encoder": "openai/whisper-tiny",
        "llm": "llm",
        "prompt_template": template,
        "system_prompt": None,
        # the layout prompts are really rendered in: the tiny LLM has no chat template
        "prompt": {"layout": "prompt_template", "template": template},
    }
    assert sources.to_json() == expected
    assert not (tmp_path / "encoder").exists()  # nothing built (or downloaded) for a hub id
    recorded = json.loads((tmp_path / SOURCES_FILE).read_text(encoding="utf-8"))
    assert recorded == expected  # relative paths: workspace-independent

    resolved = read_sources(tmp_path)
    assert resolved.encoder == "openai/whisper-tiny"
    assert Path(resolved.llm) == tmp_path / "llm"
    assert resolved.prompt_template == template

    # same seed and texts → bit-identical weights to the session's tiny LLM
    built = load_file(tmp_path / "llm" / "model.safetensors")
    reference = load_file(Path(tiny_base_dirs[1]) / "model.safetensors")
    assert built.keys() == reference.keys()
    assert all(torch.equal(built[k], reference[k]) for k in built)


def test_read_sources_without_prepare_says_to_run_prepare(tmp_path: Path) -> None:
    from components.modeling.base_models import read_sources

    with pytest.raises(FileNotFoundError, match="prepare"):
        read_sources(tmp_path)


def test_load_encoder_gives_the_whisper_encoder_and_its_feature_extractor(tiny_base_dirs) -> None:
    from components.config import TinyEncoderParams
    from components.modeling.base_models import load_encoder

    encoder, extractor = load_encoder(tiny_base_dirs[0])
    defaults = TinyEncoderParams()
    assert type(encoder).__name__ == "WhisperEncoder"
    assert encoder.config.d_model == defaults.d_model and len(encoder.layers) == defaults.layers
    assert encoder.embed_positions.num_embeddings == int(defaults.max_seconds * 50)
    assert extractor.sampling_rate == 16000 and extractor.feature_size == defaults.num_mel_bins


def test_load_llm_has_special_tokens_matching_the_model_config(tiny_base_dirs) -> None:
    from components.modeling.base_models import SPECIAL_TOKENS, load_llm

    llm, tokenizer = load_llm(tiny_base_dirs[1])
    assert tokenizer.pad_token == SPECIAL_TOKENS["pad_token"] and tokenizer.pad_token_id is not None
    assert llm.config.vocab_size == len(tokenizer) <= 300
    assert llm.config.bos_token_id == tokenizer.bos_token_id
    assert llm.config.eos_token_id == tokenizer.eos_token_id
    assert llm.generation_config.pad_token_id == tokenizer.pad_token_id
    text = "the quick brown fox jumps over the lazy dog"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text

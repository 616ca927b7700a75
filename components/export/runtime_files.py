"""What the onnxruntime speech → text path needs besides its graphs, written at export.

``runtime.json`` holds the prompt layout as text around the instruction (rendered once here, with the
chat template where the LLM has one, so the runtime needs no template engine), the stop tokens, the
generation config's repetition penalty, the LLM's context, the encoder's input limits and the feature
settings; ``tokenizer.json`` is the LLM's fast tokenizer; ``mel_filters.npy`` Whisper's mel matrix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from components.export.decoder_export import EMBED_FILE, PREFILL_FILE, STEP_FILE
from components.export.speech_to_text import MEL_FILTERS_FILE, RUNTIME_FILE, TOKENIZER_FILE
from components.modeling.prompts import split_prompt, stop_ids
from components.modeling.speech_llm import SpeechLLM

MARK = "\u2063instruction\u2063"  # text no template holds, to find where the instruction goes


def prompt_parts(model: SpeechLLM) -> dict[str, Any]:
    """The prompt as text before and after the instruction and after the speech, and the BOS rule of
    :func:`components.modeling.prompts.prompt_ids`.

    Raises:
        ValueError: the template does not place the instruction once, as text, before the speech.
    """
    prefix, suffix = split_prompt(model.tokenizer, MARK, model.template, model.system_prompt)
    if prefix.count(MARK) != 1:
        raise ValueError("the prompt template does not hold the instruction once before the speech")
    before, between = prefix.split(MARK)
    chat = bool(getattr(model.tokenizer, "chat_template", None))
    return {
        "before": before,
        "between": between,
        "after": suffix,
        "bos_id": None if chat else model.tokenizer.bos_token_id,
    }


def feature_settings(model: SpeechLLM, out_dir: Path) -> dict[str, Any]:
    """How the runtime computes the encoder's input: Whisper's log-mel (its filters saved beside), or
    the wav2vec2 family's normalised waveform."""
    from transformers import WhisperFeatureExtractor

    extractor = model.feature_extractor
    if isinstance(extractor, WhisperFeatureExtractor):
        np.save(out_dir / MEL_FILTERS_FILE, np.asarray(extractor.mel_filters, dtype=np.float64))
        return {
            "kind": "log_mel",
            "sampling_rate": extractor.sampling_rate,
            "n_fft": extractor.n_fft,
            "hop_length": extractor.hop_length,
            "mel_filters": MEL_FILTERS_FILE,
        }
    return {
        "kind": "waveform",
        "sampling_rate": extractor.sampling_rate,
        "normalize": bool(getattr(extractor, "do_normalize", False)),
    }


def write_runtime_files(
    model: SpeechLLM, out_dir: Path, speech_file: str, max_new_tokens: int
) -> dict[str, Any]:
    """Write ``runtime.json``, ``tokenizer.json`` (and the mel filters) into ``out_dir``; the config.
    ``max_new_tokens`` is what an answer may take unless the caller says otherwise."""
    generation = model.llm.generation_config
    config = {
        "files": {
            "speech_path": speech_file,
            "embed": EMBED_FILE,
            "prefill": PREFILL_FILE,
            "step": STEP_FILE,
        },
        "prompt": prompt_parts(model),
        "stop_ids": stop_ids(model.tokenizer, generation),
        "repetition_penalty": float(getattr(generation, "repetition_penalty", None) or 1.0),
        "max_positions": int(model.llm.config.max_position_embeddings),
        "max_new_tokens": max_new_tokens,
        "min_seconds": model.min_input_seconds,
        "max_seconds": model.max_input_seconds,
        "features": feature_settings(model, out_dir),
    }
    model.tokenizer.backend_tokenizer.save(str(out_dir / TOKENIZER_FILE))
    (out_dir / RUNTIME_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return config

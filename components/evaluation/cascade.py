"""The cascade the papers compare against: the speech encoder's own ASR decoder transcribes each clip,
and the frozen LLM answers from that transcript, under the same instructions as every other condition.

Only an encoder that comes with its decoder has a cascade: a Whisper checkpoint
(``WhisperForConditionalGeneration``, e.g. one converted from faster-whisper). The tiny demo encoder and
the wav2vec2 family have none, and their reports leave the column out rather than fake it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.data.manifest import Utterance


def has_speech_decoder(encoder_source: str) -> bool:
    """Whether the checkpoint at ``encoder_source`` is a whole Whisper, decoder included."""
    from transformers import AutoConfig

    architectures = AutoConfig.from_pretrained(encoder_source).architectures or []
    return "WhisperForConditionalGeneration" in architectures


def whisper_language(code: str) -> str:
    """Whisper's language token name for an ISO 639-3 code (``eng`` → ``en``, ``spa`` → ``es``)."""
    import langcodes

    return langcodes.Language.get(code).language


def known_language(model: Any, code: str) -> str | None:
    """Whisper's language for an ISO 639-3 code when this checkpoint has its token, else None (the
    decoder detects it): Whisper-base has no ``<|yue|>`` for Cantonese and no token for Toki Pona."""
    language = whisper_language(code)
    tokens = getattr(model.generation_config, "lang_to_id", None) or {}
    if f"<|{language}|>" in tokens:
        return language
    print(f"cascade: this Whisper has no <|{language}|> token; it detects the language of {code} clips")
    return None


def cascade_transcripts(
    encoder_source: str, utterances: Sequence[Utterance], data_root: Path, batch_size: int = 16
) -> dict[str, str]:
    """Utterance id → the decoder's greedy transcript, its language forced to the row's own.

    Clips are batched per language in manifest order; each is at most one window (validation sets
    longer ones aside), which Whisper's feature extractor pads to, as its decoder expects. The cascade
    is a baseline, not the model under test: it runs in float32 whatever autocast surrounds it (and
    Whisper's log-mel features cannot be computed in bf16).
    """
    import torch
    from tqdm import tqdm
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from components.data.audio import load_audio

    processor = WhisperProcessor.from_pretrained(encoder_source)
    model = WhisperForConditionalGeneration.from_pretrained(encoder_source, dtype=torch.float32).eval()
    rate = processor.feature_extractor.sampling_rate
    by_language: dict[str, list[Utterance]] = defaultdict(list)
    for utt in utterances:
        by_language[utt.language].append(utt)
    batches = [
        (language, rows[i : i + batch_size])
        for language, rows in sorted(by_language.items())
        for i in range(0, len(rows), batch_size)
    ]
    transcripts: dict[str, str] = {}
    for language, batch in tqdm(batches, desc="cascade: transcribing"):
        audio = [load_audio(Path(data_root) / utt.audio, rate) for utt in batch]
        with torch.autocast("cpu", enabled=False), torch.inference_mode():
            features = processor.feature_extractor(audio, sampling_rate=rate, return_tensors="pt")
            ids = model.generate(
                features.input_features,
                language=known_language(model, language),
                task="transcribe",
                num_beams=1,
                do_sample=False,
            )
        for utt, text in zip(batch, processor.batch_decode(ids, skip_special_tokens=True), strict=True):
            transcripts[utt.id] = text.strip()
    return transcripts

"""The whole exported directory in one call: speech path, embeddings, decoder graphs, runtime files."""

from __future__ import annotations

from pathlib import Path

from components.export.decoder_export import export_decoder
from components.export.onnx_export import export_speech_path
from components.export.runtime_files import write_runtime_files
from components.export.speech_to_text import SPEECH_FILE
from components.modeling.speech_llm import SpeechLLM

__all__ = ["SPEECH_FILE", "export_speech_to_text"]


def export_speech_to_text(model: SpeechLLM, out_dir: Path, opset: int, max_new_tokens: int) -> Path:
    """Write everything :class:`components.export.speech_to_text.SpeechToText` runs into ``out_dir``.

    The encoder is switched to eager attention in place (what the exporter needs; same numerics)."""
    export_speech_path(model.speech, out_dir / SPEECH_FILE, opset)
    export_decoder(model.llm, out_dir, opset)
    write_runtime_files(model, out_dir, SPEECH_FILE, max_new_tokens)
    return out_dir

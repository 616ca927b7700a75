"""The version's ONNX export logged as an MLflow model of its own (``mlflow.onnx``), beside the pyfunc.

The flavour holds one graph: the speech path is that graph; the token embeddings, the decoder graphs,
the int8 variants, the tokenizer and ``runtime.json`` travel as its extra files, so the logged model is
the whole directory :class:`components.export.speech_to_text.SpeechToText` runs. The parity figures of
``metrics/export.json`` become the logged model's tags and the version's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.export.speech_to_text import SPEECH_FILE  # numpy only: no torch on import


def parity_tags(export: dict[str, Any]) -> dict[str, str]:
    """What the export's parity checks found, as tags: the same greedy text on how many dev clips, the
    speech embeddings' largest difference, the int8 variant's agreement and size."""
    text, int8 = export.get("text") or {}, export.get("int8") or {}
    tags = {"onnx_speech_path_max_abs_diff": f"{export.get('max_abs_diff', float('nan')):.3g}"}
    if text:
        tags |= {
            "onnx_text_parity": f"{text['same_text']}/{text['clips']}",
            "onnx_speech_embeds_max_abs_diff": f"{text['speech_embeds_max_abs_diff']:.3g}",
            "onnx_provider": str(text["provider"]),
        }
    if int8:
        tags |= {
            "onnx_int8_agreement": f"{int8['same_text']}/{int8['clips']}",
            "onnx_int8_bytes": str(int8["int8_bytes"]),
            "onnx_fp32_bytes": str(int8["fp32_bytes"]),
        }
    return tags


def log_onnx_export(onnx_dir: Path, export: dict[str, Any]) -> str:
    """Log ``onnx_dir`` to the active run as the model ``onnx``; its URI."""
    import mlflow.onnx
    import onnx

    onnx_dir = Path(onnx_dir)
    # MLflow keeps extra files by their base name: the top-level files, and the int8 folder as a folder
    extra = [str(path) for path in sorted(onnx_dir.iterdir()) if path.name != SPEECH_FILE]
    info = mlflow.onnx.log_model(
        onnx.load(str(onnx_dir / SPEECH_FILE)),
        name="onnx",
        extra_files=extra,
        save_as_external_data=False,
        tags=parity_tags(export),
        pip_requirements=["onnxruntime", "tokenizers", "numpy", "soundfile"],
    )
    return info.model_uri

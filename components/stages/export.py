"""DVC stage ``export``: speech → text to ONNX, checked against PyTorch in onnxruntime.

``models/onnx/`` holds the speech path (encoder + adapter), the LLM's token embeddings and its decoder
with a KV cache (prefill and step graphs, LoRA merged), the tokenizer and the runtime settings: what
:class:`components.export.speech_to_text.SpeechToText` runs without torch, and ``int8/``, the same
graphs with dynamically quantised weights. Parity: the speech path over batch sizes × lengths of
synthetic input, then the whole path on every dev utterance's ASR query (same greedy text, speech
embeddings within ``export.atol``), and the int8 variant's agreement with it.
"""

from __future__ import annotations

from pathlib import Path

from components.atomic import atomic_directory, write_json
from components.config import Params
from components.data.audio import load_audio
from components.data.manifest import DATA_ROOT, read_manifest
from components.evaluation.zero_shot import build_queries
from components.export.bundle import SPEECH_FILE, export_speech_to_text
from components.export.onnx_runtime import open_session
from components.export.parity import check_parity
from components.export.speech_to_text import SpeechToText
from components.export.text_parity import check_int8, check_text_parity
from components.modeling.speech_llm import SpeechLLM
from components.run_records import split_record, write_run_record
from components.seeding import seed_everything
from components.stages.runner import run_stage
from components.workspace import ADAPTER_DIR, ONNX_DIR, VALIDATED_DIR

INT8_DIR = "int8"
METRICS = Path("metrics/export.json")
# onnxruntime splits a batch of one by its thread count, so the last bits of the parity figures would
# follow the worker's cores; one thread makes metrics/export.json the same on any worker
PARITY_THREADS = 1


def dev_clips(model: SpeechLLM, params: Params) -> list[tuple[str, object, str]]:
    """(id, waveform, ASR instruction) of every dev utterance the encoder can read."""
    rate = model.feature_extractor.sampling_rate
    queries = [
        q for q in build_queries(read_manifest("dev", VALIDATED_DIR), params.evaluate) if q.task == "asr"
    ]
    clips = []
    for query in queries:
        if model.min_input_seconds <= query.utterance.duration_s <= model.max_input_seconds:
            clips.append(
                (query.utterance.id, load_audio(DATA_ROOT / query.utterance.audio, rate), query.instruction)
            )
    return clips


def main(params: Params) -> None:
    seed_everything(params.train.seed)
    model = SpeechLLM.from_pretrained(ADAPTER_DIR)
    export = params.export
    tokens = params.evaluate.max_new_tokens
    with atomic_directory(ONNX_DIR) as tmp:
        export_speech_to_text(model, tmp, export.opset, tokens)
        session = open_session(tmp / SPEECH_FILE, export.provider, PARITY_THREADS)
        report = check_parity(model.speech, session, export.batch_sizes, export.lengths_s, export.atol)
        clips = dev_clips(model, params)
        text, answers = check_text_parity(
            model, SpeechToText(tmp, export.provider, PARITY_THREADS), clips, tokens, export.atol
        )
        int8 = check_int8(tmp, tmp / INT8_DIR, clips, answers, tokens, export.provider, PARITY_THREADS)
    speech_passed = report["passed"]
    report |= {
        "provider": session.get_providers()[0],
        "opset": export.opset,
        "file": SPEECH_FILE,
        "speech_path_passed": speech_passed,
        "passed": speech_passed and text["passed"],
        "text": text,
        "int8": int8,
    }
    keys = ["torch_seconds", "onnxruntime_seconds", "text.torch_seconds", "text.onnxruntime_seconds"]
    write_run_record("export", split_record(report, [*keys, "int8.onnxruntime_seconds"]))
    write_json(METRICS, report)
    print(
        f"export: speech path max|Δ| {report['max_abs_diff']:.2e} over {len(report['cases'])} cases; "
        f"speech → text on {text['provider']}: {text['same_text']}/{text['clips']} dev answers as PyTorch's, "
        f"embeddings max|Δ| {text['speech_embeds_max_abs_diff']:.2e}; int8 agrees on {int8['same_text']}"
        f"/{int8['clips']} ({int8['int8_bytes'] / 1e6:.1f} MB against {int8['fp32_bytes'] / 1e6:.1f} MB); "
        f"parity {'passed' if report['passed'] else 'FAILED'}"
    )


if __name__ == "__main__":
    run_stage("export", main)

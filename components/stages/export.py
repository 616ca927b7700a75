"""DVC stage ``export``: the speech path to ONNX, checked against PyTorch in onnxruntime."""

from __future__ import annotations

from pathlib import Path

from components.atomic import atomic_directory, write_json
from components.config import Params
from components.export.onnx_export import export_speech_path
from components.export.onnx_runtime import open_session
from components.export.parity import check_parity
from components.modeling.speech_llm import SpeechLLM
from components.seeding import seed_everything
from components.stages.runner import run_stage
from components.workspace import ADAPTER_DIR, ONNX_DIR

ONNX_FILE = "speech_path.onnx"
METRICS = Path("metrics/export.json")


def main(params: Params) -> None:
    seed_everything(params.train.seed)
    model = SpeechLLM.from_pretrained(ADAPTER_DIR)
    with atomic_directory(ONNX_DIR) as tmp:
        onnx_path = export_speech_path(model.speech, tmp / ONNX_FILE, params.export.opset)
        session = open_session(onnx_path, params.export.provider)
        report = check_parity(
            model.speech, session, params.export.batch_sizes, params.export.lengths_s, params.export.atol
        )
    report |= {"provider": session.get_providers()[0], "opset": params.export.opset, "file": ONNX_FILE}
    write_json(METRICS, report)
    print(
        f"export: parity {'passed' if report['passed'] else 'FAILED'} max|Δ| {report['max_abs_diff']:.2e} "
        f"over {len(report['cases'])} cases on {report['provider']}"
    )


if __name__ == "__main__":
    run_stage("export", main)

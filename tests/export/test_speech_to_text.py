"""Speech → text on onnxruntime alone: the prompt ids and greedy text of PyTorch (LoRA merged), no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
INSTRUCTIONS = ["Repeat.", "Transcribe the speech, please.", "Qu'est-ce qui est dit ? Réponds en français."]
MAX_NEW_TOKENS = 12


def clips(count: int = 4) -> list[np.ndarray]:
    """Noise clips of different lengths, as the demo's clips are different lengths."""
    rng = np.random.default_rng(7)
    return [(0.2 * rng.standard_normal(16000 + 2900 * n)).astype(np.float32) for n in range(count)]


@pytest.fixture(scope="module")
def exported(tiny_base_dirs, tmp_path_factory):
    """(PyTorch model with a perturbed adapter and LoRA, directory of its full ONNX export)."""
    from components.config import LoraParams
    from components.export.bundle import export_speech_to_text
    from components.modeling.speech_llm import SpeechLLM

    model = SpeechLLM.from_base(*tiny_base_dirs, lora=LoraParams(r=4, alpha=8.0))
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():  # LoRA's B starts at zero: give it weight, so an unmerged export would differ
        for name, parameter in model.llm.named_parameters():
            if "lora_" in name:
                parameter.add_(0.5 * torch.randn(parameter.shape, generator=generator))
        for parameter in model.speech.adapter.parameters():
            parameter.mul_(3.0)
    out = export_speech_to_text(model, tmp_path_factory.mktemp("speech-to-text"), 18, MAX_NEW_TOKENS)
    return model, out


@pytest.fixture(scope="module")
def runtime(exported):
    from components.export.speech_to_text import SpeechToText

    return SpeechToText(exported[1])


def test_prompt_ids_match_the_pytorch_prompt(exported, runtime) -> None:
    from components.modeling.prompts import prompt_ids

    model, _ = exported
    for instruction in INSTRUCTIONS:
        ids = prompt_ids(model.tokenizer, instruction, model.template, model.system_prompt)
        assert runtime.prompt_ids(instruction) == (ids.prefix, ids.suffix), instruction


def test_greedy_text_and_embeddings_match_pytorch_with_lora_merged(exported, runtime) -> None:
    from components.export.text_parity import check_text_parity

    model, _ = exported
    cases = [(f"clip{i}", wave, INSTRUCTIONS[i % len(INSTRUCTIONS)]) for i, wave in enumerate(clips())]
    report, answers = check_text_parity(model, runtime, cases, MAX_NEW_TOKENS, atol=1e-4)
    assert report["passed"] and report["same_text"] == len(cases), report
    assert report["speech_embeds_max_abs_diff"] < 1e-4 and report["features_max_abs_diff"] < 1e-4
    assert len(set(answers)) > 1 and all(answers), answers  # real, varied text: not one repeated token
    assert report["provider"] == "CPUExecutionProvider"


def test_int8_variant_reports_its_agreement_and_is_smaller(exported, runtime, tmp_path: Path) -> None:
    from components.export.text_parity import check_int8

    _, directory = exported
    cases = [(f"clip{i}", wave, "Repeat.") for i, wave in enumerate(clips(3))]
    fp32 = [runtime.answer(wave, instruction, MAX_NEW_TOKENS) for _, wave, instruction in cases]
    report = check_int8(directory, tmp_path / "int8", cases, fp32, MAX_NEW_TOKENS, "CPUExecutionProvider")
    assert report["clips"] == 3 and 0.0 <= report["agreement"] <= 1.0
    assert report["int8_bytes"] < report["fp32_bytes"]
    assert_decoders_share_one_weights_file(tmp_path / "int8")


def assert_decoders_share_one_weights_file(directory: Path) -> None:
    """The prefill and step graphs point at the same stored bytes for every weight: no copy per graph."""
    from components.export.decoder_export import EMBED_FILE, PREFILL_FILE, STEP_FILE, WEIGHTS_FILE
    from tests.export.test_shared_weights import external_refs

    assert not list(directory.glob("*.onnx.data")), "a graph kept weights of its own"
    embed, prefill, step = (
        set(external_refs(directory / name).values()) for name in (EMBED_FILE, PREFILL_FILE, STEP_FILE)
    )
    assert prefill and prefill == step
    assert {location for location, _, _ in embed | prefill} == {WEIGHTS_FILE}
    # the file holds each distinct tensor once (plus alignment), not the step graph's copy again
    distinct = embed | prefill
    stored = (directory / WEIGHTS_FILE).stat().st_size
    assert stored <= sum(length for _, _, length in distinct) + 64 * len(distinct)


def test_the_decoder_graphs_share_one_weights_file(exported) -> None:
    assert_decoders_share_one_weights_file(exported[1])


def test_the_runtime_and_predict_onnx_never_import_torch_or_transformers(exported, tmp_path: Path) -> None:
    import soundfile as sf

    _, directory = exported
    clip = tmp_path / "clip.wav"
    sf.write(clip, clips(1)[0], 16000)
    script = (
        "import sys\n"
        "from flows.cli import app\n"
        f'app(["predict", {str(clip)!r}, "--instruction", "Repeat.", "--onnx", {str(directory)!r}],'
        " standalone_mode=False)\n"
        "loaded = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
        "print('loaded:', loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "loaded: []", result.stdout
    assert lines[0].strip()  # the answer


def test_predict_onnx_refuses_bad_audio_in_one_line(exported, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    _, directory = exported
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    result = CliRunner().invoke(
        app, ["predict", str(empty), "--instruction", "Repeat.", "--onnx", str(directory)]
    )
    assert result.exit_code == 1
    assert result.output.startswith(f"speechalign: error: {empty}: cannot decode audio"), result.output
    assert len(result.output.strip().splitlines()) == 1


def test_predict_onnx_names_a_bad_thread_count_in_one_line(exported, tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    _, directory = exported
    monkeypatch.setenv("SPEECHALIGN_THREADS", "two")  # onnxruntime's pool follows it
    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"")
    result = CliRunner().invoke(
        app, ["predict", str(clip), "--instruction", "Repeat.", "--onnx", str(directory)]
    )
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith("speechalign: error: SPEECHALIGN_THREADS='two'"), result.output


def test_the_registered_model_answers_on_onnxruntime_as_on_pytorch(exported, tmp_path: Path) -> None:
    import pandas as pd
    import soundfile as sf

    from components.registry.engines import OnnxEngine, TorchEngine
    from components.registry.pyfunc_model import SpeechAlignModel
    from components.registry.requests import Limits

    model, directory = exported
    paths = []
    for index, wave in enumerate(clips(3)):
        paths.append(str(tmp_path / f"clip{index}.wav"))
        sf.write(paths[-1], wave, 16000, subtype="FLOAT")
    table = pd.DataFrame({"audio_path": paths, "instruction": INSTRUCTIONS})
    answers = {}
    for name, engine in (("pytorch", TorchEngine(model)), ("onnxruntime", OnnxEngine(directory))):
        served = SpeechAlignModel()
        served.engine, served.max_new_tokens, served.too_long = engine, MAX_NEW_TOKENS, "reject"
        served.limits = Limits(audio_root=tmp_path)
        answers[name] = served.predict(None, table)
    assert answers["onnxruntime"] == answers["pytorch"] and len(set(answers["pytorch"])) > 1

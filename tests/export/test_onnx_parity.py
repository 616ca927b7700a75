"""ONNX export of the speech path: dynamic batch and length, onnxruntime parity, provider checked."""

from __future__ import annotations

from pathlib import Path

import pytest

BATCH_SIZES = [1, 3]
# mel frames 17 (the minimum), 37, 100, 232: none a multiple of 16
LENGTHS_S = [0.17, 0.37, 1.0, 2.33]
ATOL = 1e-4


@pytest.fixture(scope="module")
def exported(tiny_base_dirs, tmp_path_factory):
    """(speech path in eval mode, path of its ONNX file), exported once for the module."""
    from components.export.onnx_export import export_speech_path
    from components.modeling.speech_llm import SpeechLLM

    model = SpeechLLM.from_base(*tiny_base_dirs)  # its own copy: export switches attention to eager
    out = tmp_path_factory.mktemp("onnx") / "speech_path.onnx"
    path = export_speech_path(model.speech, out, opset=18)
    assert path.is_file()
    return model.speech, path


@pytest.fixture(scope="module")
def cpu_session(exported):
    from components.export.onnx_runtime import open_session

    return open_session(exported[1], "CPUExecutionProvider")


def test_cpu_session_activates_the_cpu_provider_first(cpu_session) -> None:
    assert cpu_session.get_providers()[0] == "CPUExecutionProvider"


def test_exported_graph_has_dynamic_batch_and_frames(cpu_session) -> None:
    inputs = {i.name: i.shape for i in cpu_session.get_inputs()}
    assert set(inputs) == {"features", "feature_mask"}
    features, mask = inputs["features"], inputs["feature_mask"]
    assert isinstance(features[0], str) and isinstance(features[2], str)  # symbolic, not baked in
    assert isinstance(mask[0], str) and isinstance(mask[1], str)
    assert [o.name for o in cpu_session.get_outputs()] == ["speech_embeds", "speech_mask"]


def test_check_parity_passes_for_batch_1_and_3_over_lengths_not_multiple_of_16(exported, cpu_session) -> None:
    from components.export.parity import check_parity

    speech, _ = exported
    report = check_parity(speech, cpu_session, BATCH_SIZES, LENGTHS_S, ATOL)
    assert len(report["cases"]) == len(BATCH_SIZES) * len(LENGTHS_S)
    for case in report["cases"]:
        assert case["mask_equal"], case
        assert case["max_abs_diff"] < ATOL, case
    assert report["passed"] and report["max_abs_diff"] < ATOL


@pytest.mark.parametrize("batch", BATCH_SIZES)
@pytest.mark.parametrize("frames", [17, 37, 64, 101, 233])
def test_onnxruntime_matches_torch_on_padded_batches(exported, cpu_session, batch, frames) -> None:
    import numpy as np
    import torch

    from components.export.onnx_runtime import run_speech_path

    speech, _ = exported
    n_mels = speech.encoder.model.config.num_mel_bins
    generator = torch.Generator().manual_seed(batch * 1000 + frames)
    features = torch.randn(batch, n_mels, frames, generator=generator)
    mask = torch.zeros(batch, frames, dtype=torch.long)
    lengths = [frames, max(17, frames - 13), max(17, frames // 2 + 1)][:batch]
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
        features[row, :, n:] = 0
    with torch.no_grad():
        ref_embeds, ref_mask = speech(features, mask)
    embeds, out_mask = run_speech_path(cpu_session, features.numpy(), mask.numpy())
    assert embeds.shape == tuple(ref_embeds.shape)
    assert np.array_equal(out_mask, ref_mask.numpy())
    assert float(np.abs(embeds - ref_embeds.numpy()).max()) < ATOL


@pytest.mark.parametrize(
    ("activated", "opens"),
    [
        (["CPUExecutionProvider"], False),  # onnxruntime fell back to the CPU: refused
        (["CUDAExecutionProvider", "CPUExecutionProvider"], True),  # CUDA really active: opened
    ],
)
def test_open_session_accepts_only_the_provider_asked_for_as_the_active_one(
    exported, monkeypatch, activated, opens
) -> None:
    import onnxruntime as ort

    from components.export.onnx_runtime import ProviderError, open_session

    asked = []

    class Session:  # what onnxruntime reports back, whatever this machine's hardware
        def __init__(self, path, sess_options=None, providers=()):
            asked.append(list(providers))

        def get_providers(self):
            return activated

    monkeypatch.setattr(ort, "InferenceSession", Session)
    _, path = exported
    if opens:
        assert open_session(path, "CUDAExecutionProvider").get_providers()[0] == "CUDAExecutionProvider"
    else:
        with pytest.raises(
            ProviderError, match=r"asked for CUDAExecutionProvider but .*\['CPUExecutionProvider'\]"
        ):
            open_session(path, "CUDAExecutionProvider")
    assert asked == [["CUDAExecutionProvider", "CPUExecutionProvider"]]


def test_open_session_raises_provider_error_when_cuda_falls_back_to_cpu(exported) -> None:
    import torch

    from components.export.onnx_runtime import ProviderError, open_session

    if torch.cuda.is_available():
        pytest.skip("CUDA works here, so CUDAExecutionProvider activates")
    _, path = exported
    with pytest.raises(ProviderError, match="asked for CUDAExecutionProvider"):
        open_session(path, "CUDAExecutionProvider")


def test_onnx_matches_the_unexported_sdpa_model_so_export_does_not_change_the_function(
    tiny_model, cpu_session
) -> None:
    import numpy as np
    import torch

    from components.export.onnx_runtime import run_speech_path
    from components.export.parity import parity_inputs

    speech = tiny_model.speech  # the shared model: never exported, attention left as loaded
    features, mask = parity_inputs(speech.encoder.input_spec(), batch=3, seconds=1.23, seed=5)
    with torch.no_grad():
        ref_embeds, ref_mask = speech(features, mask)
    embeds, out_mask = run_speech_path(cpu_session, features.numpy(), mask.numpy())
    assert np.array_equal(out_mask, ref_mask.numpy())
    assert float(np.abs(embeds - ref_embeds.numpy()).max()) < ATOL


def test_the_export_names_no_file_on_this_machine(exported) -> None:
    """The same model exported from another folder is the same file: no node records a source path."""
    import onnx

    _, path = exported
    model = onnx.load(str(path))
    project = str(Path(__file__).resolve().parents[2])
    recorded = [p.value for node in model.graph.node for p in node.metadata_props]
    assert recorded  # the exporter's other node records (name scopes, fx nodes) stay
    assert not [value for value in recorded if project in value or ".py" in value]

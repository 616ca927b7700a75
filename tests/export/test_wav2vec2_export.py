"""The speech path exports with a wav2vec2-family encoder too: waveform input, dynamic batch and length."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_encoders import save_tiny_wav2vec2

pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning")


@pytest.mark.parametrize("norm", ["layer", "group"])
def test_wav2vec2_family_speech_path_matches_onnxruntime_over_batches_and_lengths(
    norm: str, tmp_path: Path
) -> None:
    import torch

    from components.export.onnx_export import export_speech_path
    from components.export.onnx_runtime import open_session
    from components.export.parity import check_parity
    from components.modeling.adapters import BlspAdapter, BlspAdapterConfig
    from components.modeling.base_models import load_encoder
    from components.modeling.encoder import speech_encoder
    from components.modeling.speech_llm import SpeechPath

    model, _ = load_encoder(save_tiny_wav2vec2("wav2vec2", tmp_path / norm, feat_extract_norm=norm))
    encoder = speech_encoder(model)
    torch.manual_seed(0)
    adapter = BlspAdapter(BlspAdapterConfig(input_size=32, output_size=48, conv_layers=2, conv_channels=32))
    speech = SpeechPath(encoder, adapter).eval()
    path = export_speech_path(speech, tmp_path / "speech_path.onnx", opset=18)
    spec = encoder.input_spec()
    shortest = spec.min_frames / spec.frames_per_second  # the stride-4 adapter makes its 2 frames into 1
    with torch.no_grad():
        waveform = torch.randn(1, 1, spec.min_frames)  # (B, 1, samples), as the collate gives it
        assert speech.encode(waveform, torch.ones(1, spec.min_frames, dtype=torch.long)).embeds.shape[1] == 1
    sizes = [shortest, 0.3, 0.77]
    report = check_parity(speech, open_session(path, "CPUExecutionProvider"), [1, 3], sizes, atol=1e-4)
    assert report["passed"], report
    assert all(case["mask_equal"] for case in report["cases"])

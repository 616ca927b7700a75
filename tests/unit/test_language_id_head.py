"""BLOOMZMMS's self-conditioned intermediate CTC over language ids, in the encoder-blocks adapter."""

from __future__ import annotations

import pytest

D_ENC, D_LLM = 32, 48
LANGUAGES = ("eng", "spa", "fra")


def _adapter(lid_block: int | None = 1, seed: int = 0):
    import torch

    from components.modeling.encoder_blocks import EncoderBlocksAdapter, EncoderBlocksConfig

    torch.manual_seed(seed)
    config = EncoderBlocksConfig(
        D_ENC, D_LLM, d_model=32, layers=3, heads=4, ffn_dim=64, lid_block=lid_block, lid_languages=LANGUAGES
    )
    return EncoderBlocksAdapter(config).eval()


def _batch(lengths: list[int], seed: int = 0):
    import torch

    from components.modeling.encoder import length_mask

    generator = torch.Generator().manual_seed(seed)
    mask = length_mask(torch.tensor(lengths), max(lengths))
    return torch.randn(len(lengths), max(lengths), D_ENC, generator=generator) * mask[..., None], mask


def test_the_head_gives_blank_plus_one_class_per_language_at_the_subsampled_frames() -> None:
    import torch

    adapter = _adapter()
    lengths = [9, 30, 17]
    with torch.no_grad():
        out = adapter(*_batch(lengths))
    assert out.lid_logits.shape == (3, 15, 1 + len(LANGUAGES))
    assert (
        out.lid_mask.sum(dim=1).tolist() == adapter.subsample.output_lengths(torch.tensor(lengths)).tolist()
    )
    assert _adapter(lid_block=None)(*_batch(lengths)).lid_logits is None


def test_a_clip_alone_and_in_a_padded_batch_gives_the_same_language_logits_and_embeddings() -> None:
    import torch

    adapter = _adapter()
    hidden, mask = _batch([9, 30, 17], seed=1)
    with torch.no_grad():
        batch = adapter(hidden, mask)
        for row, n in enumerate([9, 30, 17]):
            alone = adapter(hidden[row : row + 1, :n], mask[row : row + 1, :n])
            frames = int(alone.lid_mask.sum())
            assert torch.allclose(alone.lid_logits[0, :frames], batch.lid_logits[row, :frames], atol=1e-5)
            assert torch.allclose(alone.embeds[0], batch.embeds[row, : alone.embeds.shape[1]], atol=1e-5)


def test_the_language_posteriors_condition_the_later_blocks() -> None:
    """Self-conditioning: the head's softmax, projected, is added to the stream after its block."""
    import torch

    adapter = _adapter()
    hidden, mask = _batch([20, 12])
    with torch.no_grad():
        conditioned = adapter(hidden, mask).embeds
        adapter.lid_condition.weight.zero_()
        adapter.lid_condition.bias.zero_()
        unconditioned = adapter(hidden, mask).embeds
    assert not torch.allclose(conditioned, unconditioned, atol=1e-4)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"lid_block": 3}, r"lid_block: 3 must lie in \[1, layers\)"),
        ({"lid_block": 0}, "lid_block: must be a positive integer"),
        ({"lid_block": 1, "lid_languages": ["eng"]}, "lid_languages: unknown key"),
    ],
)
def test_params_name_a_bad_lid_block(options: dict, problem: str) -> None:
    from components.config import ParamsError, parse_params

    adapter = {"kind": "encoder_blocks", "layers": 3, **options}
    with pytest.raises(ParamsError, match=problem):
        parse_params({"train": {"adapter": adapter}})


def test_the_lid_ctc_loss_needs_the_head() -> None:
    from components.config import ParamsError, parse_params

    phase = {"name": "ctc", "steps": 1, "losses": {"ctc": 1.0, "lid_ctc": 0.2}}
    with pytest.raises(ParamsError, match=r"phases\.ctc: the lid_ctc loss needs a language-ID head"):
        parse_params({"train": {"phases": [phase]}})


def test_language_ctc_targets_each_clips_language_and_trains_the_head(tiny_base_dirs, tmp_path) -> None:
    import numpy as np
    import torch

    from components.config import AdapterParams
    from components.modeling.speech_llm import SpeechLLM
    from components.training.objective import language_ctc

    adapter = AdapterParams(kind="encoder_blocks", d_model=32, layers=2, heads=4, lid_block=1)
    model = SpeechLLM.from_base(*tiny_base_dirs, adapter=adapter, languages=["spa", "eng"])
    assert model.speech.adapter.config.lid_languages == ("eng", "spa")  # sorted: the same classes every run
    rng = np.random.default_rng(0)
    features, mask = model.features([rng.standard_normal(n).astype("float32") * 0.1 for n in (16000, 24000)])
    out = model.speech.encode(features, mask)

    loss = language_ctc(model, out.lid_logits, out.lid_mask, ["spa", "eng"])
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert model.speech.adapter.lid_head.weight.grad.abs().sum() > 0
    swapped = language_ctc(model, out.lid_logits.detach(), out.lid_mask, ["eng", "spa"])
    assert not torch.isclose(loss.detach(), swapped)  # the target is the row's own language
    with pytest.raises(
        ValueError, match=r"lid_ctc: clip languages \['deu'\] are not among the adapter's \['eng', 'spa'\]"
    ):
        language_ctc(model, out.lid_logits, out.lid_mask, ["deu", "eng"])

    model.save_pretrained(tmp_path / "adapter")
    again = SpeechLLM.from_pretrained(tmp_path / "adapter")
    assert again.speech.adapter.config.lid_languages == ("eng", "spa")
    with torch.no_grad():
        reloaded = again.speech.encode(features, mask)
    assert torch.equal(reloaded.embeds, out.embeds.detach()) and torch.equal(
        reloaded.lid_logits, out.lid_logits.detach()
    )


def test_the_speech_path_with_a_language_head_exports_and_onnxruntime_agrees(
    tiny_base_dirs, tmp_path
) -> None:
    from components.config import AdapterParams
    from components.export.onnx_export import export_speech_path
    from components.export.onnx_runtime import open_session
    from components.export.parity import check_parity
    from components.modeling.speech_llm import SpeechLLM

    adapter = AdapterParams(kind="encoder_blocks", d_model=32, layers=2, heads=4, lid_block=1)
    model = SpeechLLM.from_base(*tiny_base_dirs, adapter=adapter, languages=["eng", "spa"])
    path = export_speech_path(model.speech, tmp_path / "speech_path.onnx", opset=18)
    report = check_parity(
        model.speech, open_session(path, "CPUExecutionProvider"), [1, 3], [0.17, 1.3], atol=1e-4
    )
    assert report["passed"], report

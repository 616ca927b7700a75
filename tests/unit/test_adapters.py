"""Every adapter kind: exact output lengths, batch independence, padding immunity, output scale."""

from __future__ import annotations

import pytest

D_ENC, D_LLM, SCALE = 32, 48, 0.37
# odd, even and varied encoder-frame counts, including a single frame
LENGTHS = [1, 2, 7, 8, 9, 16, 23, 40]
FIXED_KINDS = {
    "conv_glu": {"conv_channels": 16, "bottleneck": 8},
    "stack_swiglu": {"stack": 4, "hidden_size": 40},
    "conv_downsampler": {"conv_channels": 24},
    "encoder_blocks": {"d_model": 32, "layers": 2, "heads": 4, "ffn_dim": 64},
}
ALL_KINDS = {**FIXED_KINDS, "cif": {"conv_channels": 24}}


def _classes(kind: str) -> tuple[type, type]:
    """(adapter class, config class) of ``kind``."""
    from components.modeling.adapters import BlspAdapter, BlspAdapterConfig
    from components.modeling.cif import CifAdapter, CifAdapterConfig
    from components.modeling.conv_downsampler import ConvDownsampler, ConvDownsamplerConfig
    from components.modeling.encoder_blocks import EncoderBlocksAdapter, EncoderBlocksConfig
    from components.modeling.projector import StackSwigluConfig, StackSwigluProjector

    pairs = [
        (BlspAdapter, BlspAdapterConfig),
        (StackSwigluProjector, StackSwigluConfig),
        (ConvDownsampler, ConvDownsamplerConfig),
        (EncoderBlocksAdapter, EncoderBlocksConfig),
        (CifAdapter, CifAdapterConfig),
    ]
    return next(pair for pair in pairs if pair[0].kind == kind)


def _adapter(kind: str, seed: int = 0):
    import torch

    adapter_class, config_class = _classes(kind)
    torch.manual_seed(seed)
    fields = {"input_size": D_ENC, "output_size": D_LLM, "output_scale": SCALE, **ALL_KINDS[kind]}
    return adapter_class(config_class(**fields)).eval()


def _batch(lengths: list[int], seed: int = 0):
    """Zero-padded random encoder frames (B, T_max, D_ENC) and their (B, T_max) mask."""
    import torch

    from components.modeling.encoder import length_mask

    generator = torch.Generator().manual_seed(seed)
    mask = length_mask(torch.tensor(lengths), max(lengths))
    hidden = torch.randn(len(lengths), max(lengths), D_ENC, generator=generator)
    return hidden * mask[..., None], mask


def _targets(kind: str, lengths: list[int]):
    """CIF is also checked in training mode (a given number of fires); the others ignore targets."""
    import torch

    return torch.tensor([max(1, n // 3) for n in lengths]) if kind == "cif" else None


@pytest.mark.parametrize("kind", sorted(ALL_KINDS))
def test_kind_id_and_config_round_trip(kind: str) -> None:
    import json

    adapter = _adapter(kind)
    adapter_class, config_class = _classes(kind)
    assert type(adapter) is adapter_class and adapter_class.kind == kind
    saved = json.loads(json.dumps(adapter.config.to_dict()))  # as written beside the weights
    assert config_class(**saved) == adapter.config
    rebuilt = adapter_class(config_class(**saved))
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in adapter.state_dict().items()
    }


@pytest.mark.parametrize("kind", sorted(FIXED_KINDS))
def test_output_mask_lengths_equal_the_formula_and_the_shape_of_an_unpadded_clip(kind: str) -> None:
    import torch

    adapter = _adapter(kind)
    hidden, mask = _batch(LENGTHS)
    want = adapter.output_lengths(torch.tensor(LENGTHS))
    with torch.no_grad():
        out = adapter(hidden, mask)
        assert out.alphas is None
        assert torch.equal(out.mask.sum(dim=1), want)
        assert out.embeds.shape == (len(LENGTHS), int(want.max()), D_LLM)
        for row, n in enumerate(want.tolist()):
            assert out.mask[row, :n].eq(1).all() and out.mask[row, n:].eq(0).all()  # a prefix mask
            assert out.embeds[row, n:].eq(0).all()
            alone = adapter(hidden[row : row + 1, : LENGTHS[row]], mask[row : row + 1, : LENGTHS[row]])
            assert alone.embeds.shape[1] == n and int(alone.mask.sum()) == n


def test_output_length_formulas_by_hand() -> None:
    import torch

    lengths = torch.tensor([1, 2, 7, 8, 9, 40])
    # stack 4: ceil(L/4); two conv(k3, s2, p1): ceil(ceil(L/2)/2); blocks: conv(k3, s2) then ceil(/2)
    assert _adapter("stack_swiglu").output_lengths(lengths).tolist() == [1, 1, 2, 2, 3, 10]
    assert _adapter("conv_downsampler").output_lengths(lengths).tolist() == [1, 1, 2, 2, 3, 10]
    assert _adapter("encoder_blocks").output_lengths(lengths).tolist() == [1, 1, 2, 2, 3, 10]
    # conv_glu: three conv(k5, s2, p2) = three ceil(L/2)
    assert _adapter("conv_glu").output_lengths(lengths).tolist() == [1, 1, 1, 1, 2, 5]
    # a k=5, s=3 downsampler: floor((L + 4 − 5)/3) + 1 per layer
    from components.modeling.conv_downsampler import ConvDownsampler, ConvDownsamplerConfig

    odd = ConvDownsampler(ConvDownsamplerConfig(D_ENC, D_LLM, conv_layers=1, kernel_size=5, stride=3))
    assert odd.output_lengths(lengths).tolist() == [1, 1, 3, 3, 3, 14]
    # cif integrates the frames after its stride-2 subsampling
    assert _adapter("cif").frame_lengths(lengths).tolist() == [1, 1, 4, 4, 5, 20]


@pytest.mark.parametrize("kind", sorted(ALL_KINDS))
def test_clip_alone_equals_the_same_clip_in_a_zero_padded_batch(kind: str) -> None:
    import torch

    adapter = _adapter(kind)
    hidden, mask = _batch(LENGTHS, seed=1)
    targets = _targets(kind, LENGTHS)
    with torch.no_grad():
        batched = adapter(hidden, mask, targets)
        reordered = adapter(hidden.flip(0), mask.flip(0), None if targets is None else targets.flip(0))
        for row, n in enumerate(LENGTHS):
            target = None if targets is None else targets[row : row + 1]
            alone = adapter(hidden[row : row + 1, :n], mask[row : row + 1, :n], target)
            size = int(batched.mask[row].sum())
            assert alone.embeds.shape[1] == size
            torch.testing.assert_close(batched.embeds[row, :size], alone.embeds[0], rtol=0, atol=1e-5)
    torch.testing.assert_close(reordered.embeds.flip(0), batched.embeds, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", sorted(ALL_KINDS))
def test_values_in_padded_input_frames_do_not_change_real_outputs(kind: str) -> None:
    import torch

    adapter = _adapter(kind)
    lengths = [5, 17, 40]
    hidden, mask = _batch(lengths, seed=2)
    garbage = torch.where(mask[..., None].bool(), hidden, torch.randn(hidden.shape) * 1e3)
    garbage[0, -1] = float("nan")  # not even NaN in the padding may leak
    targets = _targets(kind, lengths)
    with torch.no_grad():
        clean, dirty = adapter(hidden, mask, targets), adapter(garbage, mask, targets)
    assert torch.equal(clean.mask, dirty.mask)
    torch.testing.assert_close(dirty.embeds, clean.embeds, rtol=0, atol=1e-5)
    if kind == "cif":
        torch.testing.assert_close(dirty.alphas, clean.alphas, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(ALL_KINDS))
def test_adapter_ends_with_a_norm_whose_gain_is_the_llm_embedding_scale(kind: str) -> None:
    import torch

    adapter = _adapter(kind)
    assert adapter.norm.weight.eq(SCALE).all()
    assert list(adapter.modules())[-1] is adapter.norm  # registered last: the final step
    hidden, mask = _batch([20, 33], seed=3)
    with torch.no_grad():
        out = adapter(hidden, mask, _targets(kind, [20, 33]))
    real = out.embeds[out.mask.bool()]
    # with zero bias, LayerNorm and RMSNorm outputs both have RMS ≈ gain (up to eps) at every real position
    rms = real.pow(2).mean(dim=-1).sqrt()
    torch.testing.assert_close(rms, torch.full_like(rms, SCALE), rtol=1e-2, atol=0)


@pytest.mark.parametrize("kind", sorted(ALL_KINDS))
def test_every_adapter_parameter_receives_a_gradient(kind: str) -> None:
    import torch

    adapter = _adapter(kind).train()
    hidden, mask = _batch([12, 31], seed=4)
    out = adapter(hidden, mask, _targets(kind, [12, 31]))
    probe = torch.randn(out.embeds.shape, generator=torch.Generator().manual_seed(0))
    (out.embeds * probe).sum().backward()
    for name, parameter in adapter.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name

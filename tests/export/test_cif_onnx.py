"""The CIF adapter exports to ONNX with a data-dependent number of fires, and onnxruntime agrees."""

from __future__ import annotations

import pytest

# encoder-frame lengths per batch: batch sizes 1…5, odd and even, one single frame
BATCHES = [[5], [100, 7], [17, 17, 17, 17], [300, 1, 64, 9, 250]]


def _inputs(lengths: list[int], seed: int):
    import torch

    from components.modeling.encoder import length_mask

    generator = torch.Generator().manual_seed(seed)
    mask = length_mask(torch.tensor(lengths), max(lengths))
    return torch.randn(len(lengths), max(lengths), 32, generator=generator) * mask[..., None], mask


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(the adapter in eval mode, an onnxruntime CPU session of it) with dynamic batch and frames."""
    import torch
    from torch.export import Dim

    from components.export.onnx_runtime import open_session
    from components.modeling.cif import CifAdapter, CifAdapterConfig

    class Outputs(torch.nn.Module):
        """The NamedTuple's tensors as a plain tuple, which is what an ONNX graph returns."""

        def __init__(self, adapter: CifAdapter) -> None:
            super().__init__()
            self.adapter = adapter

        def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
            out = self.adapter(hidden, mask)
            return out.embeds, out.mask, out.alphas

    torch.manual_seed(0)
    model = Outputs(CifAdapter(CifAdapterConfig(input_size=32, output_size=48, conv_channels=24))).eval()
    batch, frames = Dim("batch", min=1, max=256), Dim("frames", min=5, max=4096)
    path = tmp_path_factory.mktemp("cif") / "cif.onnx"
    with torch.no_grad():
        program = torch.onnx.export(
            model,
            _inputs([40, 27, 33], seed=0),
            dynamo=True,
            input_names=["hidden", "mask"],
            output_names=["embeds", "embeds_mask", "alphas"],
            dynamic_shapes={"hidden": {0: batch, 1: frames}, "mask": {0: batch, 1: frames}},
            opset_version=18,
            external_data=False,
            verbose=False,
        )
    program.save(str(path), external_data=False)
    return model, open_session(path, "CPUExecutionProvider")


@pytest.mark.parametrize("lengths", BATCHES, ids=lambda lengths: f"B{len(lengths)}")
def test_onnxruntime_fires_the_same_number_of_vectors_with_the_same_values(exported, lengths) -> None:
    import numpy as np
    import torch

    model, session = exported
    hidden, mask = _inputs(lengths, seed=len(lengths))
    embeds, embeds_mask, alphas = session.run(None, {"hidden": hidden.numpy(), "mask": mask.numpy()})
    with torch.no_grad():
        want_embeds, want_mask, want_alphas = model(hidden, mask)
    assert embeds.shape == tuple(want_embeds.shape)  # the fire count is computed inside the graph
    assert np.array_equal(embeds_mask, want_mask.numpy())
    np.testing.assert_allclose(alphas, want_alphas.numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(embeds, want_embeds.numpy(), rtol=0, atol=2e-5)

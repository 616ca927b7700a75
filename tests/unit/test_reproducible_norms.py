"""The adapters' norms compute what torch's do, keep their state dict, and give the same gain and bias
gradients, bit for bit, under any CPU thread count."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from components.modeling.reproducible_norms import LayerNorm, RMSNorm


@pytest.mark.parametrize(("ours", "theirs"), [(LayerNorm, nn.LayerNorm), (RMSNorm, nn.RMSNorm)])
def test_the_same_function_and_state_dict_as_torch(ours, theirs) -> None:  # noqa: ANN001
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 30, 96, generator=generator)
    grad = torch.randn(4, 30, 96, generator=generator)
    mine, reference = ours(96), theirs(96)
    with torch.no_grad():
        for parameter in mine.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    reference.load_state_dict(mine.state_dict())
    assert mine.state_dict().keys() == reference.state_dict().keys()
    out, want = mine(x), reference(x)
    torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-5)
    out.backward(grad)
    want.backward(grad)
    for got, expected in zip(mine.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(got.grad, expected.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("norm", [LayerNorm, RMSNorm])
def test_gain_and_bias_gradients_do_not_follow_the_thread_count(norm) -> None:  # noqa: ANN001
    """A training batch's shape (8 clips × 200 frames × 896 features), on 1 to 4 threads."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(8, 200, 896, generator=generator)
    grad = torch.randn(8, 200, 896, generator=generator)
    before, grads = torch.get_num_threads(), []
    try:
        for threads in (1, 2, 3, 4):
            torch.set_num_threads(threads)
            module = norm(896)
            module(x).backward(grad)
            grads.append([p.grad.clone() for p in module.parameters()])
    finally:
        torch.set_num_threads(before)
    for other in grads[1:]:
        assert all(torch.equal(a, b) for a, b in zip(grads[0], other, strict=True))

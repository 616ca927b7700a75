"""Gradient clipping computes torch's clipping, with a norm whose bits do not follow the thread count."""

from __future__ import annotations

import pytest
import torch

from components.reductions import fixed_order_sum
from components.training.grad_norm import clip_grad_norm
from tests.threads import on_threads


@pytest.mark.parametrize("size", [1, 1000, 1025, 100_000, 3_000_001])
def test_the_fixed_order_sum_is_the_sum_and_the_same_bits_on_any_thread_count(size: int) -> None:
    x = torch.randn(size, generator=torch.Generator().manual_seed(size))
    sums = [on_threads(threads, fixed_order_sum, x) for threads in (1, 2, 3, 4)]
    assert all(torch.equal(sums[0], other) for other in sums[1:])
    torch.testing.assert_close(sums[0], x.double().sum().float(), rtol=1e-5, atol=1e-3)


def gradients(seed: int) -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(seed)
    parameters = [torch.nn.Parameter(torch.zeros(shape)) for shape in ((300, 700), (1000,), (64, 64, 5))]
    for parameter in parameters:
        parameter.grad = torch.randn(parameter.shape, generator=generator)
    return parameters


@pytest.mark.parametrize("max_norm", [1.0, 1e6])
def test_clipping_is_torchs_clipping(max_norm: float) -> None:
    ours, theirs = gradients(0), gradients(0)
    norm = clip_grad_norm(ours, max_norm)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    torch.testing.assert_close(norm, expected, rtol=1e-5, atol=0)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7)


def test_clipped_gradients_are_the_same_bits_on_any_thread_count() -> None:
    def clipped() -> list[torch.Tensor]:
        parameters = gradients(1)
        clip_grad_norm(parameters, 1.0)
        return [p.grad for p in parameters]

    runs = [on_threads(threads, clipped) for threads in (1, 2, 3, 4)]
    for other in runs[1:]:
        assert all(torch.equal(a, b) for a, b in zip(runs[0], other, strict=True))

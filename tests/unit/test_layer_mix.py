"""The learned layer mix starts as the plain mean of the layers and its weights are trained."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("softmax", [False, True])
def test_layer_weighted_sum_is_the_mean_at_init_for_stacked_and_listed_layers(softmax: bool) -> None:
    import torch

    from components.modeling.layer_mix import LayerWeightedSum

    layers = torch.randn(4, 2, 7, 8, generator=torch.Generator().manual_seed(0))
    mix = LayerWeightedSum(4, softmax=softmax)
    assert mix.weights.eq(1).all()
    torch.testing.assert_close(mix(layers), layers.mean(dim=0))
    torch.testing.assert_close(mix(list(layers)), layers.mean(dim=0))
    with pytest.raises(ValueError, match="expected 4 layers"):
        mix(layers[:3])


@pytest.mark.parametrize("softmax", [False, True])
def test_layer_weights_learn_to_pick_the_useful_layer(softmax: bool) -> None:
    import torch

    from components.modeling.layer_mix import LayerWeightedSum

    layers = torch.randn(3, 2, 5, 4, generator=torch.Generator().manual_seed(1))
    mix = LayerWeightedSum(3, softmax=softmax)
    optimiser = torch.optim.SGD(mix.parameters(), lr=0.5)
    for step in range(30):
        optimiser.zero_grad()
        loss = (mix(layers) - layers[2]).pow(2).mean()
        loss.backward()
        if step == 0:
            assert mix.weights.grad is not None and mix.weights.grad.ne(0).all()
            first = loss.item()
        optimiser.step()
    weights = mix.mixing_weights().detach()
    assert loss.item() < 0.5 * first
    assert weights[2] > weights[0] and weights[2] > weights[1]

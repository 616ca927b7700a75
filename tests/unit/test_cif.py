"""Continuous integrate-and-fire: exact fire counts in training, tail handling at inference, and
conservation of weight across the split boundary frames."""

from __future__ import annotations

import pytest


def _reference_cif(hidden, alphas, threshold: float, tail_threshold: float):
    """Frame-by-frame CIF in float64, the textbook loop: the independent oracle for the closed form."""
    import numpy as np

    fires, accumulated, vector = [], 0.0, np.zeros(hidden.shape[1])
    for frame, weight in zip(hidden, alphas, strict=True):
        while accumulated + weight >= threshold:  # a weight above β can complete several fires
            taken = threshold - accumulated
            fires.append(vector + taken * frame)
            accumulated, vector, weight = 0.0, np.zeros(hidden.shape[1]), weight - taken
        accumulated += weight
        vector = vector + weight * frame
    if accumulated > tail_threshold:
        fires.append(vector)
    return np.array(fires).reshape(len(fires), hidden.shape[1])


def _random_alphas(generator, batch: int, frames: int):
    """α in (0, 1) with zeros after each row's random length, like a predictor's masked output."""
    import torch

    lengths = torch.randint(1, frames + 1, (batch,), generator=generator)
    alphas = torch.rand(batch, frames, generator=generator)
    return alphas * (torch.arange(frames)[None, :] < lengths[:, None]), lengths


def test_hand_worked_boundary_split() -> None:
    import torch

    from components.modeling.cif import cif

    frames = torch.eye(3)[None]  # one-hot frames show each frame's weight in each fire
    vectors, lengths = cif(frames, torch.tensor([[0.7, 0.7, 0.7]]))
    # fire 1: 0.7·h0 + 0.3·h1 (h1 split), fire 2: 0.4·h1 + 0.6·h2, leftover 0.1 ≤ 0.5 is dropped
    assert lengths.tolist() == [2]
    torch.testing.assert_close(vectors[0], torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.4, 0.6]]))


@pytest.mark.parametrize(
    ("alphas", "tail_threshold", "want"),
    [
        ([0.5, 0.5, 0.6], 0.5, [[0.5, 0.5, 0.0], [0.0, 0.0, 0.6]]),  # leftover 0.6 > 0.5: fires
        ([0.5, 0.5, 0.4], 0.5, [[0.5, 0.5, 0.0]]),  # leftover 0.4: dropped
        ([0.5, 0.5, 0.6], 0.7, [[0.5, 0.5, 0.0]]),  # the threshold is configurable
        ([0.3, 0.3, 0.0], 0.5, [[0.3, 0.3, 0.0]]),  # no full fire, only the tail
        ([0.2, 0.2, 0.0], 0.5, []),  # nothing at all
    ],
)
def test_inference_tail_fires_the_leftover_iff_it_exceeds_the_tail_threshold(
    alphas: list[float], tail_threshold: float, want: list[list[float]]
) -> None:
    import torch

    from components.modeling.cif import cif

    vectors, lengths = cif(torch.eye(3)[None], torch.tensor([alphas]), tail_threshold=tail_threshold)
    assert lengths.tolist() == [len(want)]
    torch.testing.assert_close(vectors[0], torch.tensor(want).reshape(len(want), 3))


def test_inference_matches_the_frame_by_frame_reference_and_conserves_weight() -> None:
    import torch

    from components.modeling.cif import cif, cif_weights

    generator = torch.Generator().manual_seed(0)
    for trial in range(30):
        threshold = (1.0, 0.8, 1.3)[trial % 3]
        alphas, _ = _random_alphas(
            generator, batch=6, frames=int(torch.randint(1, 50, (1,), generator=generator))
        )
        hidden = torch.randn(*alphas.shape, 5, generator=generator)
        vectors, lengths = cif(hidden, alphas, threshold=threshold)
        weights, _ = cif_weights(alphas, threshold=threshold)
        for row in range(alphas.shape[0]):
            want = _reference_cif(hidden[row].double().numpy(), alphas[row].double().numpy(), threshold, 0.5)
            n = int(lengths[row])
            assert n == len(want)
            torch.testing.assert_close(vectors[row, :n].double(), torch.from_numpy(want), rtol=0, atol=1e-5)
            assert vectors[row, n:].eq(0).all()
            # every full fire integrates exactly β; only a tail fire may hold less
            full = int((alphas[row].sum() / threshold).floor())
            fired = weights[row].sum(dim=1)
            torch.testing.assert_close(
                fired[:full], torch.full_like(fired[:full], threshold), rtol=0, atol=1e-9
            )
            assert fired[full:n].le(threshold).all() and fired[n:].eq(0).all()
            # no frame gives away more than its α, and every frame before the leftover gives all of it
            given = weights[row].sum(dim=0)
            own = alphas[row].double()
            assert (given <= own + 1e-9).all()
            before = own.cumsum(dim=0) <= full * threshold
            torch.testing.assert_close(given[before], own[before], rtol=0, atol=1e-9)


def test_training_fires_exactly_the_target_count_for_any_alphas_and_targets() -> None:
    import torch

    from components.modeling.cif import cif, cif_weights

    generator = torch.Generator().manual_seed(1)
    for trial in range(40):
        frames = int(torch.randint(1, 80, (1,), generator=generator))
        alphas, _ = _random_alphas(generator, batch=8, frames=frames)
        # targets below, near and far above Σα (then scaled α exceeds 1), and U = 1
        sums = alphas.sum(dim=1)
        targets = torch.stack(
            [
                torch.ones((), dtype=torch.long),
                sums[1].floor().long().clamp(min=1),
                sums[2].ceil().long(),
                (sums[3] * 0.3).long().clamp(min=1),
                torch.tensor(2 * frames + 3),
                *torch.randint(1, 2 * frames + 2, (3,), generator=generator),
            ]
        )
        threshold = (1.0, 0.7)[trial % 2]
        weights, lengths = cif_weights(alphas, threshold=threshold, target_lengths=targets)
        vectors, _ = cif(torch.randn(8, frames, 4, generator=generator), alphas, threshold, targets)
        assert torch.equal(lengths, targets)
        assert vectors.shape[1] == int(targets.max())
        fired = weights.sum(dim=2)  # (B, K): each of the U fires gets β, nothing beyond U
        index = torch.arange(weights.shape[1])[None, :]
        within, last = index < targets[:, None], index == targets[:, None] - 1
        torch.testing.assert_close(
            fired[within & ~last], torch.full_like(fired[within & ~last], threshold), rtol=0, atol=1e-9
        )
        # the last fire takes what is left: β minus the hair that the 1e-8 in the scaling withholds
        own = alphas.double()
        scaled = own * (targets.double() * threshold / (own.sum(dim=1) + 1e-8))[:, None]
        left = scaled.sum(dim=1) - (targets.double() - 1) * threshold
        torch.testing.assert_close(fired[last], left, rtol=0, atol=1e-9)
        assert fired[~within].eq(0).all()
        assert vectors[~within].eq(0).all()
        # all of the scaled weight is used: Σ_k w[k, t] = α_t · Uβ / Σα
        torch.testing.assert_close(weights.sum(dim=1), scaled, rtol=0, atol=1e-9)


def test_training_with_a_weight_above_threshold_spreads_one_frame_over_several_fires() -> None:
    import torch

    from components.modeling.cif import cif

    frames = torch.eye(2)[None]
    vectors, lengths = cif(frames, torch.tensor([[0.5, 0.0]]), target_lengths=torch.tensor([3]))
    assert lengths.tolist() == [3]
    torch.testing.assert_close(vectors[0], torch.tensor([[1.0, 0.0]] * 3))
    # U = 1 integrates the whole clip, weighted by α normalised to sum to 1
    vectors, _ = cif(frames, torch.tensor([[0.2, 0.6]]), target_lengths=torch.tensor([1]))
    torch.testing.assert_close(vectors[0], torch.tensor([[0.25, 0.75]]))


def test_frames_with_zero_alpha_do_not_contribute() -> None:
    import torch

    from components.modeling.cif import cif

    generator = torch.Generator().manual_seed(2)
    hidden = torch.randn(1, 12, 4, generator=generator)
    alphas = torch.rand(1, 12, generator=generator)
    padded_hidden = torch.cat([hidden, torch.randn(1, 5, 4, generator=generator) * 100], dim=1)
    padded_alphas = torch.cat([alphas, torch.zeros(1, 5)], dim=1)
    for targets in (None, torch.tensor([7])):
        want, want_lengths = cif(hidden, alphas, target_lengths=targets)
        got, got_lengths = cif(padded_hidden, padded_alphas, target_lengths=targets)
        assert torch.equal(got_lengths, want_lengths)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_gradients_reach_the_alphas_in_both_modes() -> None:
    import torch

    from components.modeling.cif import cif

    generator = torch.Generator().manual_seed(3)
    hidden = torch.randn(2, 10, 4, generator=generator)
    for targets in (None, torch.tensor([3, 6])):
        alphas = torch.rand(2, 10, generator=generator).requires_grad_(True)
        vectors, _ = cif(hidden, alphas, target_lengths=targets)
        (vectors * torch.randn(vectors.shape, generator=generator)).sum().backward()
        assert alphas.grad is not None and alphas.grad.abs().sum() > 0


def test_adapter_returns_unscaled_alphas_zero_on_padding_and_fires_the_targets() -> None:
    import torch

    from components.modeling.cif import CifAdapter, CifAdapterConfig
    from components.modeling.encoder import length_mask

    torch.manual_seed(0)
    adapter = CifAdapter(CifAdapterConfig(input_size=16, output_size=24, conv_layers=2)).eval()
    lengths = torch.tensor([9, 30, 17])
    mask = length_mask(lengths, 30)
    hidden = torch.randn(3, 30, 16) * mask[..., None]
    targets = torch.tensor([1, 11, 5])
    with torch.no_grad():
        trained = adapter(hidden, mask, targets)
        inferred = adapter(hidden, mask)
    frame_lengths = adapter.frame_lengths(lengths)
    assert trained.alphas.shape == (3, int(frame_lengths.max()))
    assert torch.equal(trained.alphas, inferred.alphas)  # the α the predictor made, not the rescaled ones
    assert torch.equal((trained.alphas > 0).sum(dim=1), frame_lengths)  # sigmoid > 0 on real frames only
    assert torch.equal(trained.mask.sum(dim=1), targets)
    assert not torch.allclose(trained.alphas.sum(dim=1), targets.float())  # so |Σα − U| is a real loss
    fires = (inferred.alphas.sum(dim=1)).floor() + (inferred.alphas.sum(dim=1) % 1 > 0.5)
    assert torch.equal(inferred.mask.sum(dim=1), fires.long())

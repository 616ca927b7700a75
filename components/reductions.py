"""Whole-tensor sums and means whose bits do not follow the CPU thread count.

PyTorch's CPU kernels split a sum of a whole tensor to one number into one chunk per thread, so its last
bits follow ``torch.get_num_threads()``: a 100,000-element sum differed between 1 and 2 threads. Where
such a number decides what trains (a gradient norm that clips, the LLM's token-embedding RMS that sets
an adapter's initial gain or a noise level), a run on another worker trains other weights. These sum
rows of a fixed width, one row per output (PyTorch does not split those), then the rows' sums the same
way, until one number is left: the order of additions depends on the tensor's size alone.
"""

from __future__ import annotations

import torch

ROW = 1024  # summed by one thread each: below PyTorch's parallel grain of 32,768 elements


def fixed_order_sum(x: torch.Tensor) -> torch.Tensor:
    """The sum of every element of ``x`` (0-d), added in an order set by its size alone."""
    flat = x.reshape(-1)
    while flat.numel() > ROW:
        pad = -flat.numel() % ROW
        if pad:
            flat = torch.cat([flat, flat.new_zeros(pad)])
        flat = flat.view(-1, ROW).sum(dim=1)
    return flat.sum()


def fixed_order_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of every element of ``x`` (0-d), summed as :func:`fixed_order_sum` does."""
    return fixed_order_sum(x) / x.numel()

"""Gradient clipping whose norm is the same bits whatever the CPU thread count.

``torch.nn.utils.clip_grad_norm_`` takes the norm of every gradient with a whole-tensor reduction, whose
last bits follow the thread count (see :mod:`components.reductions`); once the norm passes the limit,
every weight is scaled by it. Here the squares are summed in a fixed order.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from components.reductions import fixed_order_sum


def clip_grad_norm(parameters: Iterable[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """Scale the gradients so their joint 2-norm is at most ``max_norm`` (PyTorch's rule: the factor
    ``max_norm / (norm + 1e-6)``, capped at 1); returns the norm before clipping (0-d, float32)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    squares = torch.stack([fixed_order_sum(g.detach().float().pow(2)) for g in grads])
    total = fixed_order_sum(squares).sqrt()
    factor = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for grad in grads:
        grad.detach().mul_(factor.to(grad.device, grad.dtype))
    return total

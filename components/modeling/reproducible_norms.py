"""LayerNorm and RMSNorm whose gain and bias gradients are the same bits whatever the CPU thread count.

PyTorch's fused CPU backward of ``layer_norm`` sums ``grad · x̂`` over the rows (batch × time) in
chunks, one per thread, and adds the chunks' sums: the order of the additions, and so the float32 gain
and bias gradients, follow ``torch.get_num_threads()``. It was the one kernel of a training step that
did: linear and convolution weight gradients, LoRA's and the loss came out bit-identical under 1, 2, 3
and 4 threads, the adapters' norm gradients did not, so a run on a 4-core worker ended with other
weights than the same run on 2 cores. Here the normalisation is computed without its affine part (per
row, so independent of threads), and the affine part is an ordinary product and sum, whose gradients
autograd reduces with ``Tensor.sum`` over the leading axes, an order that does not follow the thread
count (checked over shapes from (4096, 1) to (32, 300, 4096) and 1 to 8 threads;
``tests/unit/test_determinism.py`` trains under 1 and 3 threads and compares every bit).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def scale_shift(normed: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None) -> torch.Tensor:
    """The affine step of a norm as separate operators: autograd gives ``weight`` the gradient
    ``(grad · normed).sum`` over the leading axes and ``bias`` ``grad.sum``, whose order does not follow
    the thread count, where the fused kernel's does."""
    out = normed if weight is None else normed * weight
    return out if bias is None else out + bias


class LayerNorm(nn.LayerNorm):
    """:class:`torch.nn.LayerNorm` (same parameters and state dict) with thread-count-independent
    affine gradients. Input (…, *normalized_shape), output the same shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = F.layer_norm(x, self.normalized_shape, None, None, self.eps)
        return scale_shift(normed, self.weight, self.bias)


class RMSNorm(nn.RMSNorm):
    """:class:`torch.nn.RMSNorm` (same parameters and state dict) with a thread-count-independent gain
    gradient. Input (…, *normalized_shape), output the same shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = F.rms_norm(x, self.normalized_shape, None, self.eps)
        return scale_shift(normed, self.weight, None)

"""The frozen LLM's decoder layers sharded over the training processes (fully sharded data parallel).

Data parallelism keeps a whole copy of the base models on every rank, which ends where an LLM's
weights no longer fit one GPU (a 70B LLM: 140 GB in bf16). Here each decoder layer becomes one FSDP
unit (PyTorch's FSDP2 ``fully_shard``; Zhao et al. 2023, "PyTorch FSDP"): rank r of n keeps the r-th
n-th of every weight of the layer, and the whole weights are gathered only while the layer runs (in
the forward pass, and again in the backward pass that carries the gradient through the frozen LLM to
the adapter), then freed.

Nothing sharded trains, so FSDP never reduces a gradient: LoRA's matrices inside the layers are left
out of the units (``ignored_params``) and stay whole on every rank, where their gradients are
averaged with the adapter's (:mod:`components.training.distributed`). The token embeddings, the final
norm and the output projection also stay whole: the objectives read the embedding table itself (CTC,
MSE, the adapter's output gain) and they are a few percent of a large LLM's weights.
"""

from __future__ import annotations

import torch
from torch import nn

from components.modeling.target_logits import base_causal_lm


def decoder_layers(llm: nn.Module) -> list[nn.Module]:
    """The decoder layers of a Hugging Face causal LM (or a peft model around one), in order: the
    outermost modules that transformers lets checkpoint (``GradientCheckpointingLayer``)."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    core = base_causal_lm(llm)
    found: list[nn.Module] = []
    inside: set[int] = set()
    for module in core.modules():  # parents before children
        if isinstance(module, GradientCheckpointingLayer) and id(module) not in inside:
            found.append(module)
            inside.update(id(m) for m in module.modules())
    return found


def shard_decoder_layers(llm: nn.Module, keep_whole: set[int], processes: int, device: torch.device) -> int:
    """Shard every decoder layer of ``llm`` over the ``processes`` ranks of the initialised process group,
    each rank's shards on ``device``; parameters whose ``id`` is in ``keep_whole`` (the trainables)
    stay whole. Call it before moving the model to a GPU: a layer is moved there already cut, so the
    GPU never holds the whole LLM. Returns the number of layers sharded.

    Raises:
        ValueError: naming ``train.fsdp``, where the LLM has no decoder layers transformers knows.
    """
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    layers = decoder_layers(llm)
    if not layers:
        raise ValueError(f"train.fsdp: {type(llm).__name__} has no decoder layers to shard")
    if device.type == "cuda":
        torch.cuda.set_device(device)  # the mesh's device is the current one
    mesh = init_device_mesh(device.type, (processes,))
    for layer in layers:
        whole = {p for p in layer.parameters() if id(p) in keep_whole}
        # each layer is its own root (nothing above it is sharded), and FSDP keeps a root's weights
        # gathered after its forward pass unless told otherwise: that would hold the whole LLM again
        fully_shard(layer, mesh=mesh, reshard_after_forward=True, ignored_params=whole or None)
    return len(layers)


def local_numel(module: nn.Module) -> int:
    """Elements of ``module``'s parameters held by this rank: a sharded weight counts its shard only."""
    from torch.distributed.tensor import DTensor

    return sum((p.to_local() if isinstance(p, DTensor) else p).numel() for p in module.parameters())

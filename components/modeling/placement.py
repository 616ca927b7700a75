"""Where a speech LLM's weights live and in which dtype: the device a stage runs on, and bf16 storage
for the frozen base models on a GPU.

On a CUDA GPU with bf16 precision the frozen encoder and LLM are stored in bfloat16, halving their
memory (a 7B LLM: about 14 GB instead of 28 GB), while whatever trains (adapter, layer mix, LoRA)
stays float32: the optimiser updates fp32 master weights and autocast runs the matrix products in
bf16 either way (mixed-precision training as in Micikevicius et al., 2018, with bf16 needing no loss
scaling). On the CPU every weight stays float32: the CPU path is the reproducible one, and autocast
alone decides what runs in bf16 there.
"""

from __future__ import annotations

from typing import Any

import torch

from components.compute import Precision, resolve_precision
from components.modeling.sharding import shard_decoder_layers


def trainable_ids(model: Any) -> set[int]:
    """``id`` of every parameter some training phase may update (:meth:`parameter_groups`)."""
    return {id(p) for group in model.parameter_groups().values() for p in group}


def place_model(model: Any, device: torch.device, precision: Precision, shard_over: int = 1) -> Any:
    """Move ``model`` (a :class:`~components.modeling.speech_llm.SpeechLLM`) to ``device``; on CUDA
    where ``precision`` resolves to bf16, store the frozen encoder's and LLM's parameters in bfloat16.
    Buffers (rotary frequencies, masks) keep their dtype. With ``shard_over`` > 1 the LLM's decoder
    layers are sharded over that many processes of the initialised process group
    (:mod:`~components.modeling.sharding`). Both happen before the move, so the GPU never holds the
    fp32 or the whole LLM. Returns ``model``."""
    if device.type == "cuda" and resolve_precision(precision, "cuda") == "bf16":
        store_frozen(model, torch.bfloat16)
    if shard_over > 1:
        shard_decoder_layers(model.llm, trainable_ids(model), shard_over, device)
    model.to(device)
    return model


def store_frozen(model: Any, dtype: torch.dtype) -> None:
    """Store the frozen encoder's and LLM's float32 parameters in ``dtype``; trainable parameters
    (adapter, layer mix, LoRA) and every buffer keep theirs."""
    keep = trainable_ids(model)
    for module in (model.speech.encoder, model.llm):
        for parameter in module.parameters():
            if id(parameter) not in keep and parameter.dtype == torch.float32:
                parameter.data = parameter.data.to(dtype)


def model_device(model: Any) -> torch.device:
    """The device of the LLM's token embeddings: where a batch's tensors are built."""
    return model.llm.get_input_embeddings().weight.device

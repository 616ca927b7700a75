"""Gradient (activation) checkpointing of the frozen LLM's decoder layers while the adapter trains.

Each decoder layer's activations are recomputed in the backward pass instead of kept from the forward
pass (Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost"): memory for activations
falls from one set per layer to one per checkpoint, for about one more forward pass of compute. The
gradient still has to flow through the frozen LLM to reach the adapter's output, so its activations
are what fills a GPU at long sequences and large LLMs.

transformers' layers checkpoint only while their own ``training`` flag is set, and this project keeps
the frozen LLM in eval mode (no dropout, a fixed function). So the flag is set on the decoder layer
objects alone, not on the attention and MLP modules inside them, which stay in eval mode. A layer
whose own ``forward`` reads the flag for more (OPT's, Falcon's and BioGPT's apply dropout there) would
turn dropout on in the frozen LLM, so such an LLM is refused.
"""

from __future__ import annotations

from torch import nn

from components.modeling.target_logits import base_causal_lm


def enable_checkpointing(llm: nn.Module) -> list[nn.Module]:
    """Turn on non-reentrant checkpointing of every decoder layer of ``llm`` (a Hugging Face causal
    LM or a peft model around one); returns the layers, whose ``training`` flag decides it
    (:func:`set_layers_training`).

    Raises:
        ValueError: the LLM's architecture does not support gradient checkpointing in transformers, or
            its layers read their training flag for dropout.
    """
    from transformers.modeling_layers import GradientCheckpointingLayer

    core = base_causal_lm(llm)
    if not getattr(core, "supports_gradient_checkpointing", False):
        raise ValueError(
            f"train.gradient_checkpointing: {type(core).__name__} does not support gradient checkpointing"
        )
    reads_mode = sorted(
        {
            type(m).__name__
            for m in core.modules()
            if isinstance(m, GradientCheckpointingLayer) and forward_reads_training(type(m))
        }
    )
    if reads_mode:
        raise ValueError(
            f"train.gradient_checkpointing: {', '.join(reads_mode)} reads its training flag in its own "
            "forward (dropout), which checkpointing would switch on in the frozen LLM"
        )
    core.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    layers = [
        m for m in core.modules() if isinstance(m, GradientCheckpointingLayer) and m.gradient_checkpointing
    ]
    if not layers:
        raise ValueError(f"train.gradient_checkpointing: {type(core).__name__} has no checkpointable layers")
    return layers


def forward_reads_training(cls: type) -> bool:
    """Whether a layer class's own ``forward`` (unwrapped) reads ``self.training``."""
    import inspect

    try:
        return "self.training" in inspect.getsource(inspect.unwrap(cls.forward))
    except (OSError, TypeError):  # no source to read: assume the worst
        return True


def set_layers_training(layers: list[nn.Module], mode: bool) -> None:
    """Set only these modules' own ``training`` flag (not their children's): checkpointing follows
    ``mode`` while every module inside keeps the mode it had."""
    for layer in layers:
        layer.training = mode

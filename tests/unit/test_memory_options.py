"""What lets a large LLM train in less memory: gradient accumulation and gradient checkpointing.

Accumulating k batches of b is one step on a batch of k·b; checkpointing the LLM's layers keeps fewer
activations for the same gradients, with every module of the frozen LLM still in eval mode.
"""

from __future__ import annotations

import pytest
import torch

from tests.noise_examples import noise_examples

TEXTS = ["hello world", "the cat sat", "a b c d", "one two"]


def trained_weights(tiny_base_dirs, batch_size: int, accumulation: int, steps: int = 3) -> list[torch.Tensor]:
    from components.config import TrainParams
    from components.modeling.speech_llm import SpeechLLM
    from components.training.trainer import train_recipe

    torch.manual_seed(0)
    model = SpeechLLM.from_base(*tiny_base_dirs)
    # equal lengths: a micro-batch pads to what the whole batch pads to, so only the grouping differs
    examples = noise_examples(model, ["hello world there"] * 8, [8000] * 8)
    params = TrainParams(
        batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        warmup_steps=0,
        lr=1e-2,
        phases=[{"name": "align", "steps": steps, "tasks": {"asr": 1.0}}],
    )
    result = train_recipe(model, examples, examples[:2], params, progress=False)
    assert len(result.phases[0].steps) == steps  # steps are optimiser steps, not micro-batches
    return [p.detach().clone() for p in model.parameter_groups()["adapter"]]


def test_accumulating_two_batches_of_two_is_one_step_on_a_batch_of_four(tiny_base_dirs) -> None:
    accumulated = trained_weights(tiny_base_dirs, batch_size=2, accumulation=2)
    whole = trained_weights(tiny_base_dirs, batch_size=4, accumulation=1)
    smaller = trained_weights(tiny_base_dirs, batch_size=2, accumulation=1)
    gap = max(float((a - w).abs().max()) for a, w in zip(accumulated, whole, strict=True))
    # the same batch, summed in another order: float rounding apart, where a half batch is far off
    assert gap < 1e-5
    assert max(float((s - w).abs().max()) for s, w in zip(smaller, whole, strict=True)) > 1e-3


def saved_bytes_and_grads(model, examples) -> tuple[int, list[torch.Tensor], float]:
    """Bytes of tensors autograd keeps for the backward pass, the adapter's gradients and the loss."""
    from components.config import TrainParams
    from components.training.trainer import batch_loss

    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += tensor.numel() * tensor.element_size()
        return tensor

    model.train()
    model.zero_grad(set_to_none=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = batch_loss(model, examples, {"ce": 1.0}, TrainParams())["objective"]
    loss.backward()
    grads = [p.grad.detach().clone() for p in model.parameter_groups()["adapter"]]
    model.eval()
    return saved, grads, float(loss)


def test_checkpointing_keeps_fewer_activations_for_the_same_gradients(tiny_base_dirs) -> None:
    from components.config import LoraParams
    from components.modeling.speech_llm import SpeechLLM

    model = SpeechLLM.from_base(*tiny_base_dirs, lora=LoraParams(r=4))
    examples = noise_examples(model, TEXTS, [8000, 12000, 9000, 16000])
    plain_bytes, plain_grads, plain_loss = saved_bytes_and_grads(model, examples)

    model.checkpoint_llm_layers()
    assert model.checkpointed_layers
    checkpointed_bytes, grads, loss = saved_bytes_and_grads(model, examples)

    assert loss == plain_loss
    for got, want in zip(grads, plain_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    assert checkpointed_bytes < 0.8 * plain_bytes, (checkpointed_bytes, plain_bytes)


def test_checkpointing_leaves_every_module_of_the_llm_in_eval_mode(tiny_base_dirs) -> None:
    from components.modeling.speech_llm import SpeechLLM

    model = SpeechLLM.from_base(*tiny_base_dirs)
    model.checkpoint_llm_layers()
    model.train()
    layers = {id(layer) for layer in model.checkpointed_layers}
    # only the layer objects carry the flag their checkpointing reads; what computes stays in eval mode
    assert all(layer.training for layer in model.checkpointed_layers)
    assert not any(m.training for m in model.llm.modules() if id(m) not in layers)
    model.eval()
    assert not any(m.training for m in model.llm.modules())


def test_an_llm_without_checkpointing_support_is_named(tiny_base_dirs) -> None:
    from components.modeling.activation_checkpointing import enable_checkpointing

    class Plain(torch.nn.Module):
        supports_gradient_checkpointing = False

    with pytest.raises(ValueError, match="train.gradient_checkpointing: Plain does not support"):
        enable_checkpointing(Plain())


def test_an_llm_whose_layers_apply_dropout_themselves_is_refused() -> None:
    """OPT's decoder layer reads its own training flag for dropout: checkpointing would turn it on."""
    from transformers import OPTConfig, OPTForCausalLM

    from components.modeling.activation_checkpointing import enable_checkpointing

    config = OPTConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=1,
        ffn_dim=32,
        num_attention_heads=2,
        word_embed_proj_dim=16,
    )
    with pytest.raises(ValueError, match="OPTDecoderLayer reads its training flag"):
        enable_checkpointing(OPTForCausalLM(config))

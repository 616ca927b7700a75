"""Logits projected only at the target positions are the full forward pass's logits at those positions."""

from __future__ import annotations

import pytest

from tests.noise_examples import noise_examples


def _batch(model, texts=("hello world", "good morning to you"), samples=(8000, 12800)):
    examples = noise_examples(model, list(texts), list(samples))
    slots = model.state_slots([e.states for e in examples])
    return model.splice([e.instruction for e in examples], slots, [e.target for e in examples])


def _assert_same_as_full(model, batch) -> None:
    import torch

    from components.modeling.target_logits import TargetLogits

    with torch.no_grad():
        got = model.target_logits(batch)
        want = TargetLogits.gather(model.logits(batch), batch.labels)
    assert got.logits.shape == want.logits.shape
    assert int(got.counts.sum()) == got.logits.shape[0] > 0
    torch.testing.assert_close(got.logits, want.logits, rtol=1e-5, atol=1e-5)
    assert torch.equal(got.labels, want.labels)
    assert torch.equal(got.counts, want.counts)


def test_target_logits_match_the_full_forward_pass_with_and_without_lora(tiny_base_dirs) -> None:
    import torch

    from components.config import LoraParams
    from components.modeling.speech_llm import SpeechLLM

    plain = SpeechLLM.from_base(*tiny_base_dirs).eval()
    _assert_same_as_full(plain, _batch(plain))
    assert plain._head_split() is not None  # the fast path was the one taken

    model = SpeechLLM.from_base(*tiny_base_dirs, lora=LoraParams(r=4)).eval()
    with torch.no_grad():
        for name, parameter in model.llm.named_parameters():
            if "lora_B" in name:
                parameter.add_(0.5)
    batch = _batch(model)
    _assert_same_as_full(model, batch)
    with model.frozen_llm():  # LoRA off for the teacher: the split must honour peft's switch
        _assert_same_as_full(model, batch)
        frozen = model.target_logits(batch).logits
    assert not torch.allclose(frozen, model.target_logits(batch).logits, atol=1e-3)


def test_an_llm_that_changes_its_logits_after_the_projection_gets_the_full_pass(tiny_base_dirs) -> None:
    import torch

    from components.modeling.speech_llm import SpeechLLM

    model = SpeechLLM.from_base(*tiny_base_dirs).eval()
    forward = model.llm.forward

    def capped(*args, **kwargs):  # as Gemma 2 caps its logits: 30 · tanh(logits / 30)
        out = forward(*args, **kwargs)
        out.logits = 0.5 * torch.tanh(out.logits / 0.5)
        return out

    model.llm.forward = capped
    assert model._head_split() is None
    _assert_same_as_full(model, _batch(model))


def test_the_text_loss_is_the_llms_own_loss_over_target_tokens(tiny_base_dirs) -> None:
    import torch

    from components.modeling.speech_llm import SpeechLLM

    model = SpeechLLM.from_base(*tiny_base_dirs).eval()
    instructions, texts = ["say it", "repeat"], ["hello world", "good morning to you"]
    slots = model.text_slots(texts)
    batch = model.splice(instructions, slots, texts)
    with torch.no_grad():
        own = model.llm(
            inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask, labels=batch.labels
        ).loss
        ours = model.loss(instructions, slots, texts)
    torch.testing.assert_close(ours, own, rtol=1e-5, atol=1e-6)


def test_a_batch_without_targets_is_refused(tiny_base_dirs) -> None:
    from components.modeling.speech_llm import SpeechLLM

    model = SpeechLLM.from_base(*tiny_base_dirs)
    batch = model.splice(["say it"], model.text_slots(["hello"]))
    with pytest.raises(ValueError, match="no targets"):
        model.target_logits(batch)

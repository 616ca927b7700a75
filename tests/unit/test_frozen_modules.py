"""Frozen means frozen: eval mode, no gradients, no optimiser updates, not saved (methods.md §7.5)."""

from __future__ import annotations


def _examples(model, count: int = 4, seed: int = 0):
    import numpy as np

    from components.modeling.speech_llm import extract_features
    from components.training.trainer import Example

    rng = np.random.default_rng(seed)
    targets = ["hello world", "the cat sat on the mat", "good morning", "keep calm and carry on"]
    examples = []
    for index in range(count):
        wave = (rng.standard_normal(int(16000 * (0.4 + 0.3 * index))) * 0.1).astype(np.float32)
        examples.append(
            Example(
                id=f"utt{index}",
                states=model.clip_states(extract_features(model.feature_extractor, wave)),
                instruction="Repeat the speech.",
                target=targets[index % len(targets)],
                task="asr",
                text=targets[index % len(targets)],
            )
        )
    return examples


def _frozen_state(model):
    return {
        "encoder": {k: v.clone() for k, v in model.speech.encoder.state_dict().items()},
        "llm": {k: v.clone() for k, v in model.llm.state_dict().items()},
    }


def _assert_bitwise_equal(before: dict, after: dict) -> None:
    import torch

    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key]), key


def test_train_mode_reaches_adapter_but_every_encoder_and_llm_module_stays_in_eval(fresh_model) -> None:
    model = fresh_model
    model.train()
    assert model.training
    assert all(m.training for m in model.speech.adapter.modules())
    frozen = [*model.speech.encoder.modules(), *model.llm.modules()]
    assert frozen and not any(m.training for m in frozen)
    model.train(True)  # repeated calls keep it that way
    assert not any(m.training for m in frozen)
    model.eval()
    assert not any(m.training for m in model.modules())


def test_encoder_and_llm_parameters_do_not_require_grad_and_trainable_parameters_are_the_adapter(
    fresh_model,
) -> None:
    model = fresh_model
    assert not any(p.requires_grad for p in model.speech.encoder.parameters())
    assert not any(p.requires_grad for p in model.llm.parameters())
    adapter_ids = {id(p) for p in model.speech.adapter.parameters()}
    trainable = model.trainable_parameters()
    assert trainable and {id(p) for p in trainable} == adapter_ids
    assert len(trainable) == len(adapter_ids)


def test_optimiser_step_changes_only_adapter_weights(fresh_model) -> None:
    import torch

    from components.config import TrainParams
    from components.training.trainer import batch_loss

    model = fresh_model
    frozen_before = _frozen_state(model)
    adapter_before = {k: v.clone() for k, v in model.speech.adapter.state_dict().items()}
    optimiser = torch.optim.AdamW(model.trainable_parameters(), lr=1e-2, weight_decay=0.05)
    model.train()
    loss = batch_loss(model, _examples(model, count=2), {"ce": 1.0}, TrainParams())["objective"]
    loss.backward()
    assert all(p.grad is None for p in model.speech.encoder.parameters())
    assert all(p.grad is None for p in model.llm.parameters())
    assert all(p.grad is not None for p in model.trainable_parameters())
    optimiser.step()
    model.eval()
    after = _frozen_state(model)
    _assert_bitwise_equal(frozen_before["encoder"], after["encoder"])
    _assert_bitwise_equal(frozen_before["llm"], after["llm"])
    adapter_after = model.speech.adapter.state_dict()
    assert any(not torch.equal(adapter_before[k], adapter_after[k]) for k in adapter_before)


def test_training_runs_frozen_modules_in_eval_and_updates_only_the_adapter(fresh_model) -> None:
    import math

    import torch

    from components.config import TrainParams
    from components.training.trainer import train_recipe

    model = fresh_model
    seen: dict[str, set[bool]] = {"encoder": set(), "llm": set(), "adapter": set()}
    hooks = [
        model.speech.encoder.model.layers[0].register_forward_pre_hook(
            lambda m, _: seen["encoder"].add(m.training)
        ),
        model.llm.model.layers[0].register_forward_pre_hook(lambda m, _: seen["llm"].add(m.training)),
        model.speech.adapter.register_forward_pre_hook(lambda m, _: seen["adapter"].add(m.training)),
    ]
    frozen_before = _frozen_state(model)
    adapter_before = {k: v.clone() for k, v in model.speech.adapter.state_dict().items()}
    examples = _examples(model)
    params = TrainParams(
        phases=[{"name": "asr", "steps": 3, "tasks": {"asr": 1.0}}], batch_size=2, warmup_steps=1, lr=1e-2
    )
    try:
        result = train_recipe(model, examples, examples[:2], params, progress=False)
    finally:
        for hook in hooks:
            hook.remove()
    assert seen["encoder"] == {False} and seen["llm"] == {False}
    assert True in seen["adapter"]  # the adapter did train
    assert len(result.steps) == 3 and all(math.isfinite(s["loss"]) for s in result.steps)
    assert not model.training
    after = _frozen_state(model)
    _assert_bitwise_equal(frozen_before["encoder"], after["encoder"])
    _assert_bitwise_equal(frozen_before["llm"], after["llm"])
    adapter_after = model.speech.adapter.state_dict()
    assert any(not torch.equal(adapter_before[k], adapter_after[k]) for k in adapter_before)


def test_save_pretrained_writes_only_adapter_tensors_and_from_pretrained_rebuilds_identical_outputs(
    fresh_model, tmp_path
) -> None:
    import json

    import numpy as np
    import torch
    from safetensors.torch import load_file

    from components.modeling.speech_llm import ADAPTER_CONFIG, ADAPTER_WEIGHTS, SpeechLLM

    model = fresh_model
    # move the adapter away from its seeded init, so a rebuild cannot match by accident
    with torch.no_grad():
        generator = torch.Generator().manual_seed(7)
        for parameter in model.speech.adapter.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.05)
    out = tmp_path / "adapter"
    model.save_pretrained(out)

    assert sorted(p.name for p in out.iterdir()) == sorted([ADAPTER_CONFIG, ADAPTER_WEIGHTS])
    tensors = load_file(out / ADAPTER_WEIGHTS)
    adapter_state = model.speech.adapter.state_dict()
    assert set(tensors) == set(adapter_state)
    assert not any(k.startswith(("encoder", "llm", "model", "speech", "lm_head")) for k in tensors)
    for key, value in adapter_state.items():
        assert torch.equal(tensors[key], value), key
    config = json.loads((out / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    assert config["base_models"] == model.sources
    assert config["template"] == model.template

    rebuilt = SpeechLLM.from_pretrained(out)
    assert not rebuilt.training
    rng = np.random.default_rng(1)
    waves = [(rng.standard_normal(n) * 0.1).astype(np.float32) for n in (9000, 15500)]
    features, mask = model.features(waves)
    with torch.no_grad():
        for a, b in zip(
            model.speech_slots(features, mask), rebuilt.speech_slots(features, mask), strict=True
        ):
            assert torch.equal(a, b)
        slots = model.speech_slots(features, mask)
        instructions, targets = ["Repeat the speech."] * 2, ["hello world", "good morning"]
        assert torch.equal(
            model.loss(instructions, slots, targets), rebuilt.loss(instructions, slots, targets)
        )
    assert model.generate(instructions, slots, 4) == rebuilt.generate(instructions, slots, 4)

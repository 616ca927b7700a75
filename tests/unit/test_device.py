"""Devices: ``auto`` is a CUDA GPU where torch sees one, a stage asked for CUDA without one stops in
one line before loading a model, batches are built where the LLM is, and frozen base weights stored
in bf16 (as on a GPU) train the float32 adapter and LoRA under autocast."""

from __future__ import annotations

import contextlib

import pytest

from tests.noise_examples import noise_examples


def test_auto_is_a_cuda_gpu_where_torch_sees_one_and_cuda_without_one_is_refused_by_name(monkeypatch) -> None:
    import torch

    from components.compute import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto", "train.device") == torch.device("cpu")
    assert resolve_device("cpu", "train.device") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"^targets\.device: cuda, but torch sees no CUDA device"):
        resolve_device("cuda", "targets.device")

    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setenv("LOCAL_RANK", "3")  # the fourth process torchrun started on this machine
    assert resolve_device("auto", "train.device") == torch.device("cuda", 3)
    assert chosen == [3]  # the process's default GPU is its own
    assert resolve_device("cpu", "train.device") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ValueError, match=r"^train\.device: process 3 on this machine, but torch sees 2 CUDA"):
        resolve_device("auto", "train.device")


def test_a_device_outside_the_choices_is_refused_by_name() -> None:
    from components.config import ParamsError, parse_params

    with pytest.raises(ParamsError, match="train.device"):
        parse_params({"train": {"device": "tpu"}})
    with pytest.raises(ParamsError, match="targets.device"):
        parse_params({"targets": {"device": "gpu"}})


def test_a_stage_asked_for_cuda_without_one_stops_before_loading_a_model(monkeypatch) -> None:
    import torch

    from components.config import Params
    from components.stages import targets, train
    from components.training.distributed import World

    def no_models():
        raise AssertionError("base models were loaded before the device was checked")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for stage in (train, targets):
        monkeypatch.setattr(stage, "read_sources", no_models)
    with pytest.raises(ValueError, match=r"^train\.device: cuda"):
        train.train_stage(Params.model_validate({"train": {"device": "cuda"}}), World())
    with pytest.raises(ValueError, match=r"^targets\.device: cuda"):
        targets.main(Params.model_validate({"targets": {"device": "cuda"}}))  # continuation: the LLM writes


def test_a_batch_is_built_on_the_device_of_the_llm(tiny_base_dirs, monkeypatch) -> None:
    from components.config import TrainParams
    from components.modeling.speech_llm import SpeechLLM
    from components.training import trainer

    model = SpeechLLM.from_base(*tiny_base_dirs)
    examples = noise_examples(model, ["hello world", "the quick fox"], [30000, 36000])
    settings = trainer.run_settings(model, TrainParams())
    # the meta device holds no values: any tensor built on the CPU and mixed in would fail the op
    model.to("meta")
    slots = model.text_slots(["hello world", "a dog"])
    batch = model.splice(["say it", "now"], slots, ["the quick fox", "a"])
    assert {t.device.type for t in (batch.inputs_embeds, batch.attention_mask, batch.labels)} == {"meta"}
    left = model.splice(["say it"], model.text_slots(["hello"]), padding_side="left")
    assert left.inputs_embeds.device.type == "meta" and left.labels is None

    seen = []

    def objective(model, states, mask, *args):
        seen.extend([states.device.type, mask.device.type])
        return {"objective": states.sum()}

    monkeypatch.setattr(trainer, "batch_objective", objective)
    monkeypatch.setattr(trainer, "precision_scope", lambda *args: contextlib.nullcontext())
    trainer.batch_loss(model, examples, {"ce": 1.0}, TrainParams(), settings)
    assert seen == ["meta", "meta"]  # the stored encoder states go where the model is


def test_frozen_weights_stored_in_bf16_train_the_float32_adapter_and_lora(tiny_base_dirs) -> None:
    import torch

    from components.config import TrainParams
    from components.modeling.placement import store_frozen, trainable_ids
    from components.modeling.speech_llm import SpeechLLM
    from components.seeding import seed_everything
    from components.training.trainer import train_recipe

    params = TrainParams(
        batch_size=3,
        warmup_steps=1,
        lr=3e-3,
        precision="bf16",
        lora={"r": 4},
        phases=[{"name": "only", "steps": 4, "tasks": {"asr": 1.0}, "train": ["adapter", "lora"]}],
    )

    def run(stored: torch.dtype | None):
        seed_everything(params.seed)
        model = SpeechLLM.from_base(*tiny_base_dirs, params.adapter, params.lora, params.seed)
        examples = noise_examples(model, ["hello world", "the quick fox", "a dog"], [30000, 36000, 42000])
        model._head_split()
        if stored is not None:
            store_frozen(model, stored)
        before = [p.detach().clone() for p in model.parameter_groups()["adapter"]]
        result = train_recipe(model, examples, examples[:2], params, progress=False)
        after = model.parameter_groups()["adapter"]
        moved = any(not torch.equal(a, p) for a, p in zip(before, after, strict=True))
        return model, result, moved

    model, stored_bf16, moved = run(torch.bfloat16)
    keep = trainable_ids(model)
    frozen = [p for m in (model.speech.encoder, model.llm) for p in m.parameters() if id(p) not in keep]
    assert frozen and all(p.dtype == torch.bfloat16 for p in frozen)
    trained = [p for group in model.parameter_groups().values() for p in group]
    assert model.parameter_groups()["lora"] and all(p.dtype == torch.float32 for p in trained)
    assert moved and all(torch.isfinite(torch.tensor(s["loss"])) for s in stored_bf16.steps)
    # the same steps with fp32 storage: autocast already ran the products in bf16, so the losses are close
    _, stored_fp32, _ = run(None)
    for a, b in zip(stored_bf16.steps, stored_fp32.steps, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=0.05)

"""Recipe training: task sampling, phase checks, trainable groups per phase, and LoRA's reach."""

from __future__ import annotations

import re

import pytest

from tests.noise_examples import noise_examples


def _example(uid: str, task: str):
    import numpy as np

    from components.training.trainer import Example

    return Example(uid, np.zeros((5, 32), dtype=np.float32), "say it", "target", task, "text")


def test_task_sampler_follows_the_weights_and_is_seeded() -> None:
    from components.training.trainer import task_sampler

    examples = [_example(f"a{i}", "asr") for i in range(30)] + [_example(f"s{i}", "st") for i in range(30)]
    draw = task_sampler(examples, {"asr": 3.0, "st": 1.0}, batch_size=400, seed=1)
    tasks = [e.task for e in draw(0)]
    assert 0.68 < tasks.count("asr") / len(tasks) < 0.82
    again = task_sampler(examples, {"asr": 3.0, "st": 1.0}, batch_size=400, seed=1)
    assert [e.id for e in again(0)] == [
        e.id for e in task_sampler(examples, {"asr": 3.0, "st": 1.0}, 400, 1)(0)
    ]


def test_task_sampler_sees_every_example_of_a_task_before_repeating_one() -> None:
    from components.training.trainer import task_sampler

    examples = [_example(f"i{i}", "intent") for i in range(7)]
    draw = task_sampler(examples, {"*": 1.0}, batch_size=7, seed=0)
    assert sorted(e.id for e in draw(0)) == sorted(e.id for e in examples)


def test_a_phase_naming_a_task_without_targets_is_refused_with_the_tasks_there_are() -> None:
    from components.config import PhaseParams
    from components.training.trainer import check_phase_tasks

    phases = [PhaseParams(name="multitask", steps=1, tasks={"asr": 1.0, "qa": 1.0})]
    with pytest.raises(ValueError, match=r"phases.multitask.tasks.*\['qa'\].*\['asr'\]"):
        check_phase_tasks(phases, [_example("a", "asr")])


def test_few_shot_phase_keeps_only_its_first_examples_of_its_tasks() -> None:
    from components.config import PhaseParams
    from components.training.trainer import phase_examples

    examples = [_example(f"x{i}", "intent" if i % 2 else "asr") for i in range(20)]
    phase = PhaseParams(name="few_shot", steps=1, tasks={"intent": 1.0}, examples=4)
    chosen = phase_examples(examples, phase)
    assert [e.id for e in chosen] == ["x1", "x3", "x5", "x7"]


def test_lora_wraps_only_its_target_modules_and_only_lora_weights_train(tiny_base_dirs) -> None:
    from components.config import LoraParams
    from components.modeling.speech_llm import SpeechLLM

    model = SpeechLLM.from_base(*tiny_base_dirs, lora=LoraParams(r=4, target_modules=["q_proj", "v_proj"]))
    trainable_llm = [name for name, p in model.llm.named_parameters() if p.requires_grad]
    assert trainable_llm and all("lora_" in name for name in trainable_llm)
    wrapped = {name.split(".lora_")[0].rsplit(".", 1)[-1] for name in trainable_llm}
    assert wrapped == {"q_proj", "v_proj"}
    lora_modules = {n.rsplit(".", 1)[0] for n, _ in model.llm.named_modules() if n.endswith("lora_A")}
    assert all(n.endswith(("q_proj", "v_proj")) for n in lora_modules)
    assert not any(p.requires_grad for p in model.speech.encoder.parameters())


def test_a_phase_updates_only_its_groups_and_lora_saves_in_peft_format(tiny_base_dirs, tmp_path) -> None:
    import numpy as np
    import torch

    from components.config import LoraParams, TrainParams
    from components.modeling.speech_llm import SpeechLLM
    from components.training.trainer import train_recipe

    model = SpeechLLM.from_base(
        *tiny_base_dirs,
        adapter=TrainParams().adapter.model_copy(update={"layer_weighted": True}),
        lora=LoraParams(r=4),
    )
    examples = noise_examples(model, ["hello world"] * 4, [8000] * 4)
    rng = np.random.default_rng(0)
    groups = model.parameter_groups()
    before = {name: [p.detach().clone() for p in ps] for name, ps in groups.items()}
    base_before = {n: p.detach().clone() for n, p in model.llm.named_parameters() if "lora_" not in n}
    params = TrainParams(
        batch_size=2,
        warmup_steps=0,
        lr=1e-2,
        lora=LoraParams(r=4),
        phases=[
            {"name": "adapter_only", "steps": 2, "tasks": {"asr": 1.0}, "train": ["adapter"]},
            {"name": "with_lora", "steps": 2, "tasks": {"asr": 1.0}, "train": ["lora"]},
        ],
    )
    train_recipe(model, examples, examples[:2], params, progress=False)

    def changed(name: str) -> bool:
        return any(not torch.equal(a, b) for a, b in zip(before[name], groups[name], strict=True))

    assert changed("adapter") and changed("lora") and not changed("layers")
    for name, parameter in model.llm.named_parameters():
        if "lora_" not in name:
            assert torch.equal(parameter, base_before[name]), name

    model.save_pretrained(tmp_path)
    assert {p.name for p in (tmp_path / "lora").iterdir()} >= {
        "adapter_config.json",
        "adapter_model.safetensors",
    }
    from safetensors.torch import load_file

    assert all("lora_" in key for key in load_file(tmp_path / "lora" / "adapter_model.safetensors"))
    again = SpeechLLM.from_pretrained(tmp_path)
    slots = model.speech_slots(*model.features([rng.standard_normal(8000).astype("float32") * 0.1]))
    slots_again = again.speech_slots(*again.features([rng.standard_normal(8000).astype("float32") * 0.1]))
    assert len(slots) == len(slots_again)
    probe = [torch.ones(3, model.llm.get_input_embeddings().embedding_dim)]
    batch = model.splice(["say it"], probe, ["hello"])
    assert torch.allclose(
        model.logits(batch), again.logits(again.splice(["say it"], probe, ["hello"])), atol=1e-5
    )


def test_the_untrained_control_switches_lora_off(tiny_base_dirs) -> None:
    import torch

    from components.config import LoraParams
    from components.modeling.speech_llm import SpeechLLM

    model = SpeechLLM.from_base(*tiny_base_dirs, lora=LoraParams(r=4))
    plain = SpeechLLM.from_base(*tiny_base_dirs)
    with torch.no_grad():
        for name, parameter in model.llm.named_parameters():
            if "lora_B" in name:
                parameter.add_(0.5)  # a trained LoRA: no longer the identity
    probe = [torch.ones(3, model.llm.get_input_embeddings().embedding_dim)]
    batch = model.splice(["say it"], probe, ["hello"])
    control = model.untrained()
    assert not torch.allclose(model.logits(batch), plain.logits(batch), atol=1e-4)
    assert torch.allclose(control.logits(batch), plain.logits(batch), atol=1e-5)


def test_the_ctc_blank_is_a_special_token_named_by_role_or_spelling(tiny_base_dirs) -> None:
    from transformers import AutoTokenizer

    from components.training.objective import blank_token_id

    tokenizer = AutoTokenizer.from_pretrained(tiny_base_dirs[1])
    assert blank_token_id(tokenizer, "pad") == tokenizer.pad_token_id
    assert blank_token_id(tokenizer, "eos") == tokenizer.eos_token_id
    assert blank_token_id(tokenizer, tokenizer.pad_token) == tokenizer.pad_token_id
    word = next(t for t in tokenizer.get_vocab() if t not in tokenizer.all_special_tokens)
    with pytest.raises(ValueError, match=re.escape(f"train.ctc_blank: '{word}' is not a special token")):
        blank_token_id(tokenizer, word)


def test_a_ctc_phase_no_clip_can_align_is_refused_and_a_few_short_clips_are_counted(tiny_base_dirs) -> None:
    """Clips with fewer adapter vectors than their transcript needs would add nothing to CTC, silently."""
    from components.config import TrainParams
    from components.modeling.speech_llm import SpeechLLM
    from components.training.trainer import train_recipe

    model = SpeechLLM.from_base(*tiny_base_dirs)
    text = "the quick brown fox jumps over the lazy dog"
    params = TrainParams(
        batch_size=2,
        warmup_steps=0,
        phases=[
            {"name": "ctc", "steps": 1, "tasks": {"asr": 1.0}, "losses": {"ctc": 1.0}, "train": ["adapter"]}
        ],
    )
    short = noise_examples(model, [text] * 2, [4000, 5000], ids=["short-a", "short-b"])
    with pytest.raises(ValueError, match=r"train\.phases\.ctc: no training example .*short-a, short-b"):
        train_recipe(model, short, short, params, progress=False)

    mixed = [*short, *noise_examples(model, [text], [80000], ids=["long"])]
    result = train_recipe(model, mixed, mixed, params, progress=False)
    assert result.summary()["phases"]["ctc"]["ctc_unalignable"] == 2


def test_lora_dropout_follows_train_mode_while_the_frozen_llm_stays_in_eval(tiny_base_dirs) -> None:
    from peft.tuners.lora import LoraLayer

    from components.config import LoraParams
    from components.modeling.speech_llm import SpeechLLM

    model = SpeechLLM.from_base(*tiny_base_dirs, lora=LoraParams(r=4, dropout=0.1))
    dropouts = [d for m in model.llm.modules() if isinstance(m, LoraLayer) for d in m.lora_dropout.values()]
    frozen = [m for name, m in model.llm.named_modules() if "lora_" not in name]
    model.train()
    assert dropouts and all(d.training for d in dropouts)  # else lora.dropout would never act
    assert not any(m.training for m in frozen)
    model.eval()
    assert not any(d.training for d in dropouts)


def test_the_kl_teacher_is_the_frozen_llm_even_with_a_trained_lora(tiny_base_dirs, monkeypatch) -> None:
    import torch

    from components.config import LoraParams, TrainParams
    from components.modeling.speech_llm import SpeechLLM
    from components.modeling.target_logits import TargetLogits
    from components.training import objective
    from components.training.trainer import batch_loss

    model = SpeechLLM.from_base(*tiny_base_dirs, lora=LoraParams(r=4))
    plain = SpeechLLM.from_base(*tiny_base_dirs)
    with torch.no_grad():
        for name, parameter in model.llm.named_parameters():
            if "lora_B" in name:
                parameter.add_(0.5)  # a trained LoRA changes the LLM's outputs
    seen = {}
    real = objective.kl_to_text_teacher

    def capture(student, teacher, *args, **kwargs):
        seen["student"], seen["teacher"] = student, teacher
        return real(student, teacher, *args, **kwargs)

    monkeypatch.setattr(objective, "kl_to_text_teacher", capture)
    examples = noise_examples(model, ["hello world", "good morning"], [8000, 9600])
    batch_loss(model, examples, {"ce": 1.0, "kl": 1.0}, TrainParams())
    texts = [e.text for e in examples]
    spliced = plain.splice(
        [e.instruction for e in examples], plain.text_slots(texts), [e.target for e in examples]
    )
    with torch.no_grad():
        frozen_logits = plain.logits(spliced)
        lora_logits = model.logits(spliced)
    assert not torch.allclose(lora_logits, frozen_logits, atol=1e-3)
    frozen_targets = TargetLogits.gather(frozen_logits, spliced.labels)
    torch.testing.assert_close(seen["teacher"].logits, frozen_targets.logits, rtol=0, atol=1e-5)
    assert model.lora_active  # the student still runs with its LoRA
    assert seen["student"].logits.requires_grad


def test_the_trainers_optimiser_holds_exactly_the_phases_groups(tiny_base_dirs, monkeypatch) -> None:
    import torch

    from components.config import LoraParams, TrainParams
    from components.modeling.speech_llm import SpeechLLM
    from components.training.trainer import train_recipe

    model = SpeechLLM.from_base(
        *tiny_base_dirs,
        adapter=TrainParams().adapter.model_copy(update={"layer_weighted": True}),
        lora=LoraParams(r=4),
    )
    held: list[set[int]] = []
    real_adamw = torch.optim.AdamW

    class Recording(real_adamw):
        def __init__(self, params, *args, **kwargs):
            params = list(params)
            held.append({id(p) for p in params})
            super().__init__(params, *args, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", Recording)
    groups = model.parameter_groups()
    frozen = {id(p) for p in [*model.speech.encoder.parameters(), *model.llm.parameters()]} - {
        id(p) for p in groups["lora"]
    }
    examples = noise_examples(model, ["hello world"] * 4, [8000] * 4)
    params = TrainParams(
        batch_size=2,
        warmup_steps=0,
        lora=LoraParams(r=4),
        phases=[
            {"name": "adapter_only", "steps": 1, "tasks": {"asr": 1.0}, "train": ["adapter"]},
            {"name": "all", "steps": 1, "tasks": {"asr": 1.0}, "train": ["adapter", "layers", "lora"]},
        ],
    )
    train_recipe(model, examples, examples[:2], params, progress=False)
    ids = {name: {id(p) for p in ps} for name, ps in groups.items()}
    assert held == [ids["adapter"], ids["adapter"] | ids["layers"] | ids["lora"]]
    assert all(not (h & frozen) for h in held) and frozen


def test_ctc_in_training_scores_against_the_llms_own_embedding_matrix(tiny_base_dirs, monkeypatch) -> None:
    from components.config import TrainParams
    from components.modeling.speech_llm import SpeechLLM
    from components.training import objective
    from components.training.trainer import batch_loss

    model = SpeechLLM.from_base(*tiny_base_dirs)
    seen = {}
    real = objective.ctc_on_embedding_matrix

    def capture(embeds, mask, table, *args, **kwargs):
        seen["table"] = table
        return real(embeds, mask, table, *args, **kwargs)

    monkeypatch.setattr(objective, "ctc_on_embedding_matrix", capture)
    examples = noise_examples(model, ["hello world", "good morning"], [16000, 16000])
    batch_loss(model, examples, {"ctc": 1.0}, TrainParams())
    assert seen["table"] is model.llm.get_input_embeddings().weight  # the matrix itself, no new head


def test_a_few_shot_phase_trains_on_its_first_examples_of_its_task_only(tiny_base_dirs, monkeypatch) -> None:
    import dataclasses

    import torch

    from components.config import TrainParams
    from components.modeling.speech_llm import SpeechLLM
    from components.training import trainer

    model = SpeechLLM.from_base(*tiny_base_dirs)
    asr = noise_examples(model, ["hello world"] * 4, [8000] * 4, ids=[f"asr{i}" for i in range(4)])
    intents = [
        dataclasses.replace(e, task="intent", instruction="what is the intent?", target="greet")
        for e in noise_examples(
            model, ["hi there"] * 6, [8000] * 6, ids=[f"int{i}" for i in range(6)], seed=1
        )
    ]
    seen: dict[int, set[str]] = {}
    real_sampler = trainer.task_sampler

    def recording(examples, weights, batch_size, seed):
        sampler = real_sampler(examples, weights, batch_size, seed)

        def sample(step: int):
            batch = sampler(step)
            seen.setdefault(seed, set()).update(e.id for e in batch)
            return batch

        return sample

    monkeypatch.setattr(trainer, "task_sampler", recording)
    params = TrainParams(
        batch_size=2,
        warmup_steps=0,
        seed=7,
        phases=[
            {"name": "asr", "steps": 2, "tasks": {"asr": 1.0}, "train": ["adapter"]},
            {"name": "few_shot", "steps": 4, "tasks": {"intent": 1.0}, "examples": 2, "train": ["adapter"]},
        ],
    )
    adapter_before = [p.detach().clone() for p in model.parameter_groups()["adapter"]]
    result = trainer.train_recipe(model, [*asr, *intents], [*asr, *intents], params, progress=False)
    assert seen[7] <= {e.id for e in asr}
    assert seen[8] == {"int0", "int1"}  # 4 steps of 2: only the phase's first two intent examples
    assert result.summary()["phases"]["few_shot"]["steps"] == 4
    after = model.parameter_groups()["adapter"]
    assert any(not torch.equal(a, b) for a, b in zip(adapter_before, after, strict=True))


def test_a_kl_phase_that_does_not_train_lora_gives_lora_no_gradient(tiny_base_dirs) -> None:
    """peft's re-enabled adapter makes LoRA trainable again; the teacher pass must not leave it so."""
    from components.config import LoraParams, TrainParams
    from components.modeling.speech_llm import SpeechLLM
    from components.training.trainer import batch_loss

    model = SpeechLLM.from_base(*tiny_base_dirs, lora=LoraParams(r=4))
    lora = model.parameter_groups()["lora"]
    for parameter in lora:
        parameter.requires_grad_(False)  # as the trainer sets a phase that trains the adapter only
    examples = noise_examples(model, ["hello world", "good morning"], [8000, 9600])
    batch_loss(model, examples, {"ce": 1.0, "kl": 1.0}, TrainParams())["objective"].backward()
    assert lora and not any(p.requires_grad for p in lora)
    assert all(p.grad is None for p in lora)
    assert any(p.grad is not None for p in model.parameter_groups()["adapter"])
    with model.untrained().llm_scope():  # the control's scope puts the flags back as well
        pass
    assert not any(p.requires_grad for p in lora)


def test_each_phases_dev_objective_is_measured_when_that_phase_ends(tiny_base_dirs) -> None:
    from components.config import TrainParams
    from components.modeling.speech_llm import SpeechLLM
    from components.seeding import seed_everything
    from components.training.trainer import train_recipe

    first = {"name": "first", "steps": 3, "tasks": {"asr": 1.0}, "train": ["adapter"]}
    second = {"name": "second", "steps": 3, "tasks": {"asr": 1.0}, "lr": 0.05, "train": ["adapter"]}

    def run(phases: list[dict]):
        params = TrainParams(batch_size=2, warmup_steps=0, lr=3e-3, phases=phases)
        seed_everything(params.seed)
        model = SpeechLLM.from_base(*tiny_base_dirs, params.adapter, None, params.seed)
        examples = noise_examples(model, ["hello world", "a dog", "the quick fox"], [30000, 34000, 38000])
        return train_recipe(model, examples, examples[:2], params, progress=False)

    both = run([first, second])
    alone = run([first])  # the same first phase, with nothing after it
    assert both.phases[0].dev_after == alone.phases[0].dev_after
    # the second phase moved the weights: measured after the last phase, the first would differ
    assert both.phases[1].dev_after != both.phases[0].dev_after


def test_a_later_phase_starts_from_where_the_earlier_one_ended(tiny_base_dirs) -> None:
    from components.config import TrainParams
    from components.modeling.speech_llm import SpeechLLM
    from components.seeding import seed_everything
    from components.training.trainer import train_recipe

    same = {"steps": 3, "tasks": {"asr": 1.0}, "train": ["adapter"]}  # the same objective in both
    params = TrainParams(batch_size=2, warmup_steps=0, phases=[{"name": "a", **same}, {"name": "b", **same}])
    seed_everything(params.seed)
    model = SpeechLLM.from_base(*tiny_base_dirs, params.adapter, None, params.seed)
    examples = noise_examples(model, ["hello world", "a dog", "the quick fox"], [30000, 34000, 38000])
    first, second = train_recipe(model, examples, examples[:2], params, progress=False).phases
    assert second.dev_before == first.dev_after  # measured as b starts: on the weights a left
    assert first.dev_before != second.dev_before


def test_the_dev_objective_builds_no_autograd_graph(tiny_base_dirs, monkeypatch) -> None:
    import torch

    from components.config import TrainParams
    from components.modeling.speech_llm import SpeechLLM
    from components.training import trainer

    model = SpeechLLM.from_base(*tiny_base_dirs)
    examples = noise_examples(model, ["hello world", "good morning", "see you"], [8000, 9600, 6400])
    params = TrainParams(batch_size=2)
    settings = trainer.run_settings(model, params)
    real, graded = trainer.batch_loss, []

    def watched(*args, **kwargs):
        graded.append(torch.is_grad_enabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "batch_loss", watched)
    measured = trainer.dev_objective(model, examples, {"ce": 1.0}, params, settings)
    assert graded == [False, False]  # two dev batches, neither with autograd
    model.eval()
    by_hand = [float(real(model, examples[i : i + 2], {"ce": 1.0}, params, settings)["ce"]) for i in (0, 2)]
    assert measured["ce"] == pytest.approx(sum(by_hand) / 2, rel=1e-6)

"""A CPU run is reproducible bit for bit: the same seed gives the same losses and the same weights, under
any number of CPU threads."""

from __future__ import annotations

import pytest

from tests.noise_examples import noise_examples
from tests.threads import on_threads

RECIPES = {
    # every loss and every trainable group, over three adapters: sampling, LoRA, CIF, a language head
    "conv_glu_lora_kl": (
        {"kind": "conv_glu", "layer_weighted": True},
        {"r": 4},
        {"ce": 1.0, "kl": 1.0, "ctc": 0.5},
        ["adapter", "layers", "lora"],
    ),
    "cif_mse_quantity": ({"kind": "cif"}, None, {"ce": 1.0, "mse": 10.0, "quantity": 1.0}, ["adapter"]),
    "encoder_blocks_lid": (
        {
            "kind": "encoder_blocks",
            "layer_weighted": True,
            "d_model": 32,
            "layers": 2,
            "heads": 4,
            "lid_block": 1,
        },
        None,
        {"ctc": 1.0, "lid_ctc": 0.2},
        ["adapter", "layers"],
    ),
    # RMSNorm in three places
    "stack_swiglu": ({"kind": "stack_swiglu"}, None, {"ce": 1.0}, ["adapter"]),
    "conv_downsampler": ({"kind": "conv_downsampler"}, None, {"ce": 1.0}, ["adapter"]),
}


def train_once(tiny_base_dirs, adapter: dict, lora: dict | None, losses: dict, groups: list[str]):
    from components.config import TrainParams
    from components.modeling.speech_llm import SpeechLLM
    from components.seeding import seed_everything
    from components.training.trainer import train_recipe

    params = TrainParams(
        batch_size=3,
        warmup_steps=1,
        lr=3e-3,
        adapter=adapter,
        lora=lora,
        phases=[{"name": "only", "steps": 4, "tasks": {"asr": 1.0}, "losses": losses, "train": groups}],
    )
    seed_everything(params.seed)
    model = SpeechLLM.from_base(
        *tiny_base_dirs, params.adapter, params.lora, params.seed, languages=["eng", "spa"]
    )
    words = ["hello world", "the quick fox", "say it again", "a dog", "brown fox jumps"]
    samples = [40000 + 1600 * i for i in range(len(words))]
    examples = noise_examples(model, words, samples, languages=["eng", "spa", "eng", "spa", "eng"])
    result = train_recipe(model, examples, examples[:2], params, progress=False)
    weights = {name: [p.detach().clone() for p in ps] for name, ps in model.parameter_groups().items()}
    return result, weights


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_the_same_seed_trains_bit_identical_losses_and_weights(tiny_base_dirs, recipe: str) -> None:
    """Run twice, once on one thread and once on three (a worker with other cores than the last):
    the kernels' parallel sums must not decide a single bit."""
    import torch

    first, first_weights = on_threads(1, train_once, tiny_base_dirs, *RECIPES[recipe])
    second, second_weights = on_threads(3, train_once, tiny_base_dirs, *RECIPES[recipe])

    assert first.steps and first.steps == second.steps  # every step's loss and learning rate, exactly

    def dev(result) -> list:
        return [(phase.name, phase.dev_before, phase.dev_after) for phase in result.phases]

    assert dev(first) == dev(second)  # dev objectives before and after, per loss
    for group, tensors in first_weights.items():
        assert len(tensors) == len(second_weights[group])
        for a, b in zip(tensors, second_weights[group], strict=True):
            assert torch.equal(a, b), group
    for name in RECIPES[recipe][2]:  # each loss took part: none was skipped or zeroed
        assert first.phases[0].dev_after[name] > 0, name

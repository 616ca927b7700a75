"""Data-parallel training: two processes under ``torchrun`` (gloo, CPU) each read their own half of every
batch and end with the weights one process trains at the same global batch, with a copy of the LLM
each or its decoder layers sharded between them (``train.fsdp``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.noise_examples import noise_examples

TEXTS = ["hello world there"] * 8  # one token count and one clip length: the halves weigh the same
SAMPLES = [8000] * 8

SCRIPT = """
import json, sys
sys.path.insert(0, {repo!r})
import torch
from components.training import trainer
from components.training.distributed import join_world, leave_world
from tests.unit.test_distributed import run

world = join_world()
seen = []
original = trainer.batch_loss
def recording(model, batch, *args, **kwargs):
    if torch.is_grad_enabled():  # a training batch, not a dev one
        seen.append([example.id for example in batch])
    return original(model, batch, *args, **kwargs)
trainer.batch_loss = recording
weights, losses, held, model = run(({encoder!r}, {llm!r}), world, fsdp={fsdp!r})
out = sys.argv[1]
record = {{"seen": seen, "losses": losses, "size": world.size, "held": held}}
json.dump(record, open(f"{{out}}.rank{{world.rank}}.json", "w"))
if world.main:  # as the train stage does: the first rank alone writes the adapter
    torch.save(weights, f"{{out}}.pt")
    model.save_pretrained(f"{{out}}.adapter")
leave_world(world)
"""


def run(tiny_base_dirs, world=None, fsdp=False):  # noqa: ANN001, ANN201
    """Three steps at a global batch of 4; the adapter's and LoRA's weights, the logged losses and the
    LLM's parameter elements this rank holds. ``fsdp`` shards the LLM's layers over the world, and
    checkpoints them too (their recomputation gathers the shards again)."""
    import torch

    from components.config import TrainParams
    from components.modeling.placement import place_model
    from components.modeling.sharding import decoder_layers, local_numel
    from components.modeling.speech_llm import SpeechLLM
    from components.seeding import seed_everything
    from components.training.trainer import train_recipe

    params = TrainParams(
        batch_size=4,
        warmup_steps=0,
        lr=3e-2,
        lora={"r": 4},
        phases=[{"name": "only", "steps": 3, "tasks": {"asr": 1.0}, "train": ["adapter", "lora"]}],
        fsdp=fsdp,
        gradient_checkpointing=fsdp,
    )
    seed_everything(params.seed)
    model = SpeechLLM.from_base(*tiny_base_dirs, params.adapter, params.lora, params.seed)
    examples = noise_examples(model, TEXTS, SAMPLES)
    place_model(model, torch.device("cpu"), params.precision, world.size if world and fsdp else 1)
    peak = [0]  # the most LLM elements held as a layer starts to run (FSDP's gather done by then)
    for layer in decoder_layers(model.llm):
        layer.register_forward_pre_hook(lambda *_: peak.__setitem__(0, max(peak[0], local_numel(model.llm))))
    result = train_recipe(model, examples, examples[:2], params, progress=False, world=world)
    # after training, whose last pass (the dev loss) ran without gradients: the layers are cut again
    held = {
        "llm": local_numel(model.llm),
        "lora": sum(p.numel() for p in model.parameter_groups()["lora"]),
        "peak": peak[0],
    }
    weights = {name: [p.detach().clone() for p in ps] for name, ps in model.parameter_groups().items()}
    return weights, [step["loss"] for step in result.phases[0].steps], held, model


@pytest.mark.parametrize("fsdp", [False, True], ids=["replicated", "fsdp"])
def test_two_processes_read_their_own_halves_and_train_what_one_process_trains(
    tiny_base_dirs, tmp_path: Path, monkeypatch, fsdp: bool
) -> None:
    import torch

    from components.modeling.speech_llm import SpeechLLM
    from components.training import trainer

    repo = str(Path(__file__).resolve().parents[2])
    script = tmp_path / "ddp.py"
    script.write_text(
        textwrap.dedent(SCRIPT.format(repo=repo, encoder=tiny_base_dirs[0], llm=tiny_base_dirs[1], fsdp=fsdp))
    )
    env = {**os.environ, "SPEECHALIGN_THREADS": "1", "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    done = subprocess.run(
        [*launcher, str(script), str(tmp_path / "ddp")], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"ddp.rank{r}.json").read_text()) for r in (0, 1)]
    assert [rank["size"] for rank in ranks] == [2, 2]

    single_seen, original = [], trainer.batch_loss

    def recording(model, batch, *args, **kwargs):  # noqa: ANN001, ANN202
        if torch.is_grad_enabled():
            single_seen.append([example.id for example in batch])
        return original(model, batch, *args, **kwargs)

    monkeypatch.setattr(trainer, "batch_loss", recording)
    single_weights, single_losses, single_held, _ = run(tiny_base_dirs)

    # every rank read its own rows: two per step, none shared, together one process's batch of four
    pairs = list(zip(ranks[0]["seen"], ranks[1]["seen"], strict=True))
    assert len(pairs) == len(single_seen) == 3
    for (first, second), whole in zip(pairs, single_seen, strict=True):
        assert len(first) == len(second) == 2 and not set(first) & set(second)
        assert sorted(first + second) == sorted(whole)

    parallel = torch.load(tmp_path / "ddp.pt")
    # the same global batches, averaged over two ranks rather than one: float rounding apart
    for group, tensors in single_weights.items():
        for a, b in zip(tensors, parallel[group], strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=group)
    saved = SpeechLLM.from_pretrained(tmp_path / "ddp.adapter").parameter_groups()
    for group, tensors in parallel.items():  # whole weights, LoRA inside sharded layers included
        assert [p.shape for p in saved[group]] == [p.shape for p in tensors]
        assert all(torch.equal(a, b) for a, b in zip(saved[group], tensors, strict=True)), group
    assert ranks[0]["losses"] == ranks[1]["losses"]  # every rank logs the global batch's loss
    assert ranks[0]["losses"] == pytest.approx(single_losses, rel=1e-5)
    weights = decoder_weights(tiny_base_dirs[1])
    sizes = [sum(p.numel() for p in layer_weights) for layer_weights in weights]
    layers, layer = sum(sizes), max(sizes)
    for rank in ranks:  # sharded: each holds half of every layer weight, and the whole LoRA, embeddings
        held = rank["held"]
        want = single_held["llm"] - layers // 2 if fsdp else single_held["llm"]
        # while training, no more than the running layer is whole: its other half is all that is added
        assert want < held["peak"] <= want + layer // 2 if fsdp else held["peak"] == want
        assert (held["llm"], held["lora"]) == (want, single_held["lora"])


def decoder_weights(llm_dir):  # noqa: ANN001, ANN201
    """The frozen parameters of the base LLM's decoder layers (what FSDP shards), layer by layer."""
    from components.modeling.base_models import load_llm
    from components.modeling.sharding import decoder_layers

    llm, _ = load_llm(llm_dir)
    return [list(layer.parameters()) for layer in decoder_layers(llm)]


def test_a_batch_that_does_not_split_over_the_processes_is_refused() -> None:
    from components.training.distributed import World, check_batch

    with pytest.raises(ValueError, match=r"train.batch_size: 6 rows do not split evenly over 4 processes"):
        check_batch(6, World(rank=1, size=4))
    check_batch(8, World(rank=0, size=4))


def test_one_process_is_its_own_world(monkeypatch) -> None:
    from components.training.distributed import World, join_world

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    world = join_world()
    assert world == World() and world.main and world.shard([1, 2, 3]) == [1, 2, 3]
    assert World(rank=1, size=2).shard(list(range(6))) == [1, 3, 5]

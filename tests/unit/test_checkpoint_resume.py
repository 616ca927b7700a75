"""Checkpoints and resume: a run stopped anywhere and started again ends with the weights, losses and
dev figures of a run never stopped, bit for bit on a CPU; a checkpoint of other params is ignored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.noise_examples import noise_examples

WORDS = ["hello world", "the quick fox", "say it again", "a dog", "brown fox jumps"]


def params(**overrides):
    from components.config import TrainParams

    settings = {
        "batch_size": 2,
        "warmup_steps": 1,
        "lr": 3e-3,
        "lora": {"r": 4, "dropout": 0.3},  # dropout draws from torch's generator at every step
        "checkpoint_every": 2,
        "phases": [
            {"name": "first", "steps": 5, "tasks": {"asr": 1.0}, "train": ["adapter"]},
            {"name": "second", "steps": 4, "tasks": {"asr": 1.0}, "train": ["adapter", "lora"]},
        ],
    }
    return TrainParams(**{**settings, **overrides})


class Crash(Exception):
    """Stands for a kill: the run ends here, whatever it had not saved is lost."""


def run(tiny_base_dirs, train_params, directory: Path | None, crash_at: tuple[str, int] | None = None):
    """Train from scratch (a fresh model, as a new process would build it); returns result and weights."""
    from components.modeling.speech_llm import SpeechLLM
    from components.seeding import seed_everything
    from components.training.checkpoint import Checkpointer, fingerprint
    from components.training.trainer import train_recipe

    seed_everything(train_params.seed)
    model = SpeechLLM.from_base(*tiny_base_dirs, train_params.adapter, train_params.lora, train_params.seed)
    examples = noise_examples(model, WORDS, [30000 + 1600 * i for i in range(len(WORDS))])
    checkpoints = None
    if directory is not None:

        class Crashing(Checkpointer):
            def after_step(self, done, total, phase, make_state):
                super().after_step(done, total, phase, make_state)
                if (phase, done) == crash_at:
                    raise Crash

        checkpoints = Crashing(directory, train_params.checkpoint_every, fingerprint(train_params, examples))
    result = train_recipe(
        model, examples, examples[:2], train_params, progress=False, checkpoints=checkpoints
    )
    weights = {name: [p.detach().clone() for p in ps] for name, ps in model.parameter_groups().items()}
    return result, weights


def same(first, second) -> None:
    import torch

    (result_a, weights_a), (result_b, weights_b) = first, second
    assert result_a.steps == result_b.steps  # every step's loss and learning rate
    assert [(p.dev_before, p.dev_after) for p in result_a.phases] == [
        (p.dev_before, p.dev_after) for p in result_b.phases
    ]
    for group, tensors in weights_a.items():
        assert all(torch.equal(a, b) for a, b in zip(tensors, weights_b[group], strict=True)), group


@pytest.mark.parametrize("crash_at", [("first", 3), ("second", 1), ("second", 4)])
def test_a_run_killed_anywhere_resumes_to_the_same_weights(tiny_base_dirs, tmp_path: Path, crash_at) -> None:
    whole = run(tiny_base_dirs, params(), None)
    with pytest.raises(Crash):
        run(tiny_base_dirs, params(), tmp_path, crash_at)
    assert (tmp_path / "checkpoint.pt").is_file()
    resumed = run(tiny_base_dirs, params(), tmp_path)
    same(whole, resumed)


def test_a_stop_request_saves_at_once_and_resumes_to_the_same_weights(tiny_base_dirs, tmp_path: Path) -> None:
    from components.training import checkpoint

    whole = run(tiny_base_dirs, params(checkpoint_every=0), None)
    saves = []
    real_save = checkpoint.Checkpointer.save

    class StopAtThree(checkpoint.Checkpointer):
        def after_step(self, done, total, phase, make_state):
            if (phase, done) == ("first", 3):
                self.request_stop()  # what the stage's SIGTERM handler does
            super().after_step(done, total, phase, make_state)

        def save(self, state):
            saves.append(len(state["loop"]["history"]))
            real_save(self, state)

    original = checkpoint.Checkpointer
    try:
        checkpoint.Checkpointer = StopAtThree
        with pytest.raises(checkpoint.TrainingStopped, match="stopped at step 3 of 5 of phase first"):
            run(tiny_base_dirs, params(checkpoint_every=0), tmp_path)
    finally:
        checkpoint.Checkpointer = original
    assert saves == [3]  # every=0: nothing was saved before the stop, then once, at the stop
    same(whole, run(tiny_base_dirs, params(checkpoint_every=0), tmp_path))


def test_a_checkpoint_of_other_params_is_ignored(tiny_base_dirs, tmp_path: Path, capsys) -> None:
    with pytest.raises(Crash):
        run(tiny_base_dirs, params(), tmp_path, ("second", 1))
    other = params(lr=1e-3)
    fresh = run(tiny_base_dirs, other, tmp_path)
    assert "made from other params or data" in capsys.readouterr().out
    same(run(tiny_base_dirs, other, None), fresh)


def test_the_checkpoint_is_replaced_whole_and_cleared(tmp_path: Path) -> None:
    from components.training.checkpoint import Checkpointer

    checkpoints = Checkpointer(tmp_path / "ck", every=1, key="k")
    checkpoints.save({"phase": 0, "loop": {"history": [1]}})
    checkpoints.save({"phase": 1, "loop": {"history": [1, 2]}})
    assert [p.name for p in (tmp_path / "ck").iterdir()] == ["checkpoint.pt"]  # no temporary left
    assert checkpoints.load()["phase"] == 1
    assert Checkpointer(tmp_path / "ck", every=1, key="other").load() is None
    checkpoints.clear()
    assert not (tmp_path / "ck").exists()


SCRIPT = """
import sys, torch
sys.path.insert(0, {repo!r})
from tests.unit.test_checkpoint_resume import params, run
from pathlib import Path
settings = params(checkpoint_every=5, phases={phases!r})
result, weights = run(({encoder!r}, {llm!r}), settings, Path(sys.argv[1]))
torch.save(weights, sys.argv[2])
"""


def test_kill_9_mid_training_then_rerun_ends_bit_identical(tiny_base_dirs, tmp_path: Path) -> None:
    import torch

    phases = [{"name": "long", "steps": 200, "tasks": {"asr": 1.0}, "train": ["adapter", "lora"]}]
    repo = str(Path(__file__).resolve().parents[2])
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            SCRIPT.format(repo=repo, encoder=tiny_base_dirs[0], llm=tiny_base_dirs[1], phases=phases)
        )
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SPEECHALIGN_THREADS": "1"}

    def train(directory: str, out: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / directory), str(tmp_path / out)], env=env
        )

    train("whole", "whole.pt").wait(timeout=600)
    killed = train("killed", "unused.pt")
    checkpoint = tmp_path / "killed" / "checkpoint.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and time.monotonic() < deadline and killed.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # a few more steps, past the checkpoint: they are lost and redone
    os.kill(killed.pid, signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL, "training ended before it could be killed"
    assert train("killed", "resumed.pt").wait(timeout=600) == 0
    whole, resumed = torch.load(tmp_path / "whole.pt"), torch.load(tmp_path / "resumed.pt")
    for group, tensors in whole.items():
        assert all(torch.equal(a, b) for a, b in zip(tensors, resumed[group], strict=True)), group

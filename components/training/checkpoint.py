"""Training checkpoints: everything a stopped run needs to end with the weights an unstopped run ends with.

A checkpoint holds the trainable weights (adapter, layer mix, LoRA), the optimiser and scheduler, every
random generator the loop draws from (Python, NumPy, torch, and the task sampler's own), the phase and
step, and what the finished phases measured. It is written atomically (a temporary file renamed into
place), so a ``kill -9`` leaves the previous checkpoint or the new one, never half of one. It lives
outside the stage's DVC outputs and is removed once the stage has written them.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from components.training.distributed import World

CHECKPOINT_FILE = "checkpoint.pt"


class TrainingStopped(RuntimeError):
    """Training stopped on request (a signal, a time limit) after saving a checkpoint to resume from."""


def rng_state() -> dict[str, Any]:
    """The global generators' states: Python's, NumPy's, torch's CPU one and, where torch sees CUDA,
    every GPU's (dropout on a GPU draws from those)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def fingerprint(params: Any, examples: Sequence[Any], *extra: str) -> str:
    """What a checkpoint must have been made from to be resumed: the train params, the examples (ids,
    tasks, instructions, targets, in order) and ``extra`` (e.g. the base models' ids). A checkpoint of
    other params, data or models is ignored."""
    digest = hashlib.sha256(json.dumps(params.model_dump(mode="json"), sort_keys=True).encode())
    digest.update("\x1f".join(extra).encode())
    for example in examples:
        digest.update("\x1f".join([example.id, example.task, example.instruction, example.target]).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()


class Checkpointer:
    """Saves every ``every`` steps of a phase (and at its end) into ``directory``, and when asked to
    stop (:meth:`request_stop`, e.g. from a SIGTERM handler) saves at once and raises TrainingStopped.

    ``every=0`` saves only when stopping. Among several training processes (``world``) every rank
    reads the checkpoint, only the main rank writes it, and a stop asked of any rank stops all of them
    after the same step.
    """

    def __init__(self, directory: Path, every: int, key: str = "", world: World | None = None) -> None:
        self.path = Path(directory) / CHECKPOINT_FILE
        self.every = every
        self.key = key
        self.world = world or World()
        self.stop_requested = False

    def request_stop(self) -> None:
        self.stop_requested = True

    def load(self) -> dict[str, Any] | None:
        """The saved state if there is one made from the same params and data (same ``key``), else None."""
        if not self.path.is_file():
            return None
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        if state.get("key") != self.key:
            print(f"train: ignoring {self.path}: it was made from other params or data")
            return None
        return state

    def after_step(self, done: int, total: int, phase: str, make_state: Callable[[], dict[str, Any]]) -> None:
        """Called after each step (``done`` steps of ``total`` in ``phase``): save ``make_state()`` when
        due; on a stop request, save and raise TrainingStopped."""
        if self.world.any(self.stop_requested):
            self.save(make_state())
            self.world.barrier()  # no rank exits (and has its launcher stop the others) before the save
            raise TrainingStopped(
                f"train: stopped at step {done} of {total} of phase {phase}; checkpoint saved in "
                f"{self.path.parent}: run the stage again to resume"
            )
        if done == total or (self.every and done % self.every == 0):
            self.save(make_state())

    def save(self, state: dict[str, Any]) -> None:
        if not self.world.main:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".checkpoint.", suffix=".tmp")
        os.close(fd)
        try:
            torch.save({**state, "key": self.key}, tmp)
            os.replace(tmp, self.path)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def clear(self) -> None:
        """Remove the checkpoint: the stage's outputs are written, nothing is left to resume."""
        if not self.world.main:
            return
        self.path.unlink(missing_ok=True)
        if self.path.parent.is_dir() and not any(self.path.parent.iterdir()):
            self.path.parent.rmdir()


def trainable_state(groups: dict[str, list[torch.nn.Parameter]]) -> dict[str, list[torch.Tensor]]:
    """A copy of every trainable group's tensors, in the model's order."""
    return {name: [p.detach().clone() for p in members] for name, members in groups.items()}


def load_trainable_state(
    groups: dict[str, list[torch.nn.Parameter]], state: dict[str, list[torch.Tensor]]
) -> None:
    """Copy saved tensors into the groups' parameters, refusing a state of another shape."""
    with torch.no_grad():
        for name, members in groups.items():
            saved = state.get(name, [])
            if len(saved) != len(members) or any(
                a.shape != b.shape for a, b in zip(saved, members, strict=False)
            ):
                raise ValueError(f"train: the checkpoint's {name} weights do not fit this model")
            for parameter, tensor in zip(members, saved, strict=True):
                parameter.copy_(tensor)

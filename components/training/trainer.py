"""Recipe training: phases in order, each with its own tasks, losses and trainable groups.

Only the parameters of a phase's groups reach its optimiser; frozen modules stay in eval mode. Each
phase's objective is measured on held-out dev examples as the phase starts (for the first, the
untrained adapter) and as it ends, so every recipe reports whether each phase improved what it
optimised.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from components.compute import precision_scope
from components.config import PhaseParams, TrainParams
from components.modeling.encoder_states import collate_states
from components.modeling.placement import model_device
from components.modeling.prompts import text_ids
from components.modeling.speech_llm import SpeechLLM
from components.training.checkpoint import (
    Checkpointer,
    load_trainable_state,
    rng_state,
    set_rng_state,
    trainable_state,
)
from components.training.distributed import World, check_batch
from components.training.losses import ctc_frames_needed
from components.training.objective import ObjectiveSettings, batch_objective, objective_settings
from components.training.schedule import OptimiserSettings, optimise

ALL_TASKS = "*"


@dataclass(frozen=True)
class Example:
    """One training example: the clip's encoder states (T', D) or (L, T', D), its transcript, and one
    target row."""

    id: str
    states: np.ndarray
    instruction: str
    target: str
    task: str
    text: str
    language: str = ""


@dataclass
class PhaseResult:
    name: str
    steps: list[dict[str, float]] = field(default_factory=list)
    dev_before: dict[str, float] = field(default_factory=dict)
    dev_after: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    ctc_unalignable: int | None = None  # training examples too short for CTC (None: no CTC)

    def summary(self) -> dict[str, float | dict[str, float]]:
        last = self.steps[-10:]
        ctc = {} if self.ctc_unalignable is None else {"ctc_unalignable": self.ctc_unalignable}
        return {
            "steps": len(self.steps),
            **ctc,
            "final_train_loss": float(np.mean([s["loss"] for s in last])) if last else float("nan"),
            "dev_before": self.dev_before,
            "dev_after": self.dev_after,
            "seconds": round(self.seconds, 2),
        }


@dataclass
class TrainResult:
    phases: list[PhaseResult] = field(default_factory=list)

    @property
    def steps(self) -> list[dict[str, float]]:
        """Every phase's steps on one running step axis (for the loss curve)."""
        out, offset = [], 0
        for phase in self.phases:
            out += [{**s, "step": s["step"] + offset, "phase": phase.name} for s in phase.steps]
            offset += len(phase.steps)
        return out

    def summary(self) -> dict[str, object]:
        final = self.phases[-1]
        return {
            "steps": sum(len(p.steps) for p in self.phases),
            "dev_loss_before": final.dev_before.get("objective", float("nan")),
            "dev_loss_after": final.dev_after.get("objective", float("nan")),
            "train_seconds": round(sum(p.seconds for p in self.phases), 2),
            "phases": {p.name: p.summary() for p in self.phases},
        }


def phase_examples(examples: Sequence[Example], phase: PhaseParams) -> list[Example]:
    """The examples of the phase's tasks (``*`` = every task), first ``examples`` of them if few-shot."""
    wanted = set(phase.tasks)
    chosen = [e for e in examples if ALL_TASKS in wanted or e.task in wanted]
    return chosen[: phase.examples] if phase.examples else chosen


def check_phase_tasks(phases: Sequence[PhaseParams], examples: Sequence[Example]) -> None:
    """Every task a phase names must have training examples; say which tasks there are otherwise."""
    present = sorted({e.task for e in examples})
    for phase in phases:
        missing = sorted(set(phase.tasks) - {ALL_TASKS} - set(present))
        if missing:
            raise ValueError(
                f"train.phases.{phase.name}.tasks: no training targets of task(s) {missing}; "
                f"the targets have {present}"
            )


class TaskSampler:
    """Batches whose every row picks a task by its weight, then that task's next example.

    Each task cycles through its own seeded permutations, so a rare task is not starved and a common
    one is not repeated before all of it has been seen. Its position (generators and queues) is a
    :meth:`state_dict`, so a resumed run draws the batches an unstopped run would.
    """

    def __init__(
        self, examples: Sequence[Example], weights: dict[str, float], batch_size: int, seed: int
    ) -> None:
        self.by_task: dict[str, list[Example]] = {}
        for example in examples:
            self.by_task.setdefault(example.task, []).append(example)
        self.tasks = sorted(self.by_task)
        # the examples are already those of the weighted tasks; "*" weighs every task not named
        weight = np.array([weights.get(t, weights.get(ALL_TASKS)) for t in self.tasks], dtype=float)
        self.probabilities = weight / weight.sum()
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.queues: dict[str, list[int]] = {t: [] for t in self.tasks}

    def __call__(self, _: int) -> list[Example]:
        batch = []
        for task in self.rng.choice(self.tasks, size=self.batch_size, p=self.probabilities):
            queue = self.queues[task]
            if not queue:
                queue.extend(torch.randperm(len(self.by_task[task]), generator=self.generator).tolist())
            batch.append(self.by_task[task][queue.pop(0)])
        return batch

    def state_dict(self) -> dict[str, object]:
        return {
            "generator": self.generator.get_state(),
            "rng": self.rng.bit_generator.state,
            "queues": {task: list(queue) for task, queue in self.queues.items()},
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.generator.set_state(state["generator"])  # type: ignore[arg-type]
        self.rng.bit_generator.state = state["rng"]
        self.queues = {task: list(queue) for task, queue in state["queues"].items()}  # type: ignore[union-attr]


def task_sampler(
    examples: Sequence[Example], weights: dict[str, float], batch_size: int, seed: int
) -> TaskSampler:
    """A :class:`TaskSampler`: call it with the step for the next batch."""
    return TaskSampler(examples, weights, batch_size, seed)


def batch_loss(
    model: SpeechLLM,
    batch: Sequence[Example],
    losses: dict[str, float],
    params: TrainParams,
    settings: ObjectiveSettings | None = None,
) -> dict[str, torch.Tensor]:
    """The batch's loss terms; ``settings`` resolved once per run (from ``params`` when not given).

    The batch is built on the model's device; the forward passes run in ``params.precision``, the
    backward pass follows the dtypes they chose.
    """
    settings = settings or run_settings(model, params)
    device = model_device(model)
    states, mask = (t.to(device) for t in collate_states([e.states for e in batch]))
    with precision_scope(params.precision, device.type):
        return batch_objective(
            model,
            states,
            mask,
            [e.instruction for e in batch],
            [e.target for e in batch],
            [e.text for e in batch],
            losses,
            settings,
            [e.language for e in batch],
        )


def run_settings(model: SpeechLLM, params: TrainParams) -> ObjectiveSettings:
    return objective_settings(model, params.kl_temperature, params.eot_weight, params.ctc_blank)


@torch.no_grad()
def dev_objective(
    model: SpeechLLM,
    examples: Sequence[Example],
    losses: dict[str, float],
    params: TrainParams,
    settings: ObjectiveSettings,
) -> dict[str, float]:
    """Each loss term and the weighted objective, averaged over dev batches in a fixed order; without
    autograd, so a dev batch holds no activations for a backward pass that never comes."""
    if not examples:
        return {}
    was_training = model.training
    model.eval()
    totals: dict[str, list[float]] = {}
    with torch.no_grad():
        for start in range(0, len(examples), params.batch_size):
            terms = batch_loss(model, examples[start : start + params.batch_size], losses, params, settings)
            for name, value in terms.items():
                totals.setdefault(name, []).append(float(value))
    model.train(was_training)
    return {name: float(np.mean(values)) for name, values in totals.items()}


def ctc_unalignable(model: SpeechLLM, examples: Sequence[Example]) -> list[str]:
    """Ids of the examples whose clip gives fewer speech vectors than CTC needs for the transcript.

    CTC cannot align those at all; the loss zeroes them, so they would add nothing, silently.
    """
    frames = model.speech.adapter_lengths(torch.tensor([e.states.shape[-2] for e in examples]))
    if frames is None:
        return []
    return [
        e.id
        for e, n in zip(examples, frames.tolist(), strict=True)
        if n < ctc_frames_needed(text_ids(model.tokenizer, e.text))
    ]


def check_ctc_alignable(model: SpeechLLM, phase: PhaseParams, examples: Sequence[Example]) -> int:
    """Refuse a CTC phase that no example can align; warn about, and count, the ones that cannot."""
    bad = ctc_unalignable(model, examples)
    hint = "use less downsampling in train.adapter or longer clips"
    if examples and len(bad) == len(examples):
        raise ValueError(
            f"train.phases.{phase.name}: no training example is long enough for CTC (the adapter gives "
            f"fewer vectors than the transcript needs, e.g. {', '.join(bad[:5])}); {hint}"
        )
    if bad:
        print(
            f"train: warning: phase {phase.name}: {len(bad)} of {len(examples)} examples are too short "
            f"for CTC and add nothing to it (e.g. {', '.join(bad[:5])}); {hint}"
        )
    return len(bad)


def train_recipe(
    model: SpeechLLM,
    train: Sequence[Example],
    dev: Sequence[Example],
    params: TrainParams,
    progress: bool = True,
    checkpoints: Checkpointer | None = None,
    world: World | None = None,
) -> TrainResult:
    """Run ``params.phases`` in order on the same trainables; AdamW with warm-up + cosine per phase.

    Each step averages the gradients of ``params.gradient_accumulation_steps`` batches of
    ``params.batch_size``; ``params.gradient_checkpointing`` recomputes the LLM's layer activations in
    the backward pass. With ``checkpoints``, a checkpoint of the same params and data is resumed
    (weights, optimiser, scheduler, every generator, the sampler's position, what finished phases
    measured) and new ones are saved as the checkpointer says; the weights at the end are those of an
    unstopped run. In a ``world`` of several processes each rank trains on its share of every batch
    and the ranks average their gradients (see :mod:`components.training.distributed`).
    """
    world = world or World()
    check_batch(params.batch_size, world)
    if not train:
        raise ValueError("train: no training examples (is the train split empty?)")
    check_phase_tasks(params.phases, train)
    if params.gradient_checkpointing:
        model.checkpoint_llm_layers()
    groups = model.parameter_groups()
    loss_settings = run_settings(model, params)
    unalignable = {
        p.name: check_ctc_alignable(model, p, phase_examples(train, p))
        for p in params.phases
        if "ctc" in p.losses
    }
    saved = checkpoints.load() if checkpoints is not None else None
    if saved is not None:
        load_trainable_state(groups, saved["weights"])
        results = [PhaseResult(**r) for r in saved["results"]]
        done = len(saved["loop"]["history"])
        print(f"train: resuming phase {params.phases[saved['phase']].name} after step {done}")
    else:
        results = [PhaseResult(p.name, ctc_unalignable=unalignable.get(p.name)) for p in params.phases]
    for index, (phase, result) in enumerate(zip(params.phases, results, strict=True)):
        if saved is not None and index < saved["phase"]:
            continue  # finished before the checkpoint: its weights and figures are restored
        parameters = [p for group in phase.train for p in groups[group]]
        for name, members in groups.items():  # a group outside this phase gets no gradient at all
            for parameter in members:
                parameter.requires_grad_(name in phase.train)
        if not parameters:
            raise ValueError(
                f"train.phases.{phase.name}.train: {phase.train} has no parameters in this model"
            )
        examples = phase_examples(train, phase)
        sampler = task_sampler(examples, phase.tasks, params.batch_size, params.seed + index)
        settings = OptimiserSettings(
            phase.steps,
            phase.lr or params.lr,
            params.weight_decay,
            params.warmup_steps,
            params.grad_clip,
            params.gradient_accumulation_steps,
        )

        def step_loss(step: int, phase: PhaseParams = phase, sampler=sampler) -> torch.Tensor:
            batch = world.shard(sampler(step))  # every rank draws the global batch and keeps its rows
            return batch_loss(model, batch, phase.losses, params, loss_settings)["objective"]

        resume = None
        if saved is not None and index == saved["phase"]:
            sampler.load_state_dict(saved["sampler"])
            set_rng_state(saved["rng"])
            resume, result.seconds = saved["loop"], saved["seconds"]
        else:  # measured as the phase starts, on the weights the phases before it left
            result.dev_before = dev_objective(
                model, phase_examples(dev, phase), phase.losses, params, loss_settings
            )
        start, before = time.perf_counter(), result.seconds

        after_step = (
            checkpoint_hook(checkpoints, index, phase, sampler, groups, results, before)
            if checkpoints is not None
            else None
        )

        model.train()
        result.steps = optimise(
            parameters,
            step_loss,
            settings,
            f"training: {phase.name}",
            progress and world.main,
            resume=resume,
            after_step=after_step,
            world=world,
        )
        model.eval()
        result.seconds = before + time.perf_counter() - start
        # measured when the phase ends, before a later phase moves the weights it trained
        result.dev_after = dev_objective(
            model, phase_examples(dev, phase), phase.losses, params, loss_settings
        )
    for parameter in (p for members in groups.values() for p in members):
        parameter.requires_grad_(True)
    return TrainResult(results)


def checkpoint_hook(
    checkpoints: Checkpointer,
    index: int,
    phase: PhaseParams,
    sampler: TaskSampler,
    groups: dict[str, list[torch.nn.Parameter]],
    results: list[PhaseResult],
    seconds_before: float,
) -> Callable[[int, dict], None]:
    """The ``after_step`` of phase ``index``: hands the checkpointer a way to make the whole state."""
    start = time.perf_counter()
    result = results[index]

    def after_step(done: int, loop: dict) -> None:
        def state() -> dict:
            result.seconds = seconds_before + time.perf_counter() - start
            return {
                "phase": index,
                "loop": loop,
                "sampler": sampler.state_dict(),
                "rng": rng_state(),
                "weights": trainable_state(groups),
                "results": [dataclasses.asdict(r) for r in results],
                "seconds": result.seconds,
            }

        checkpoints.after_step(done, phase.steps, phase.name, state)

    return after_step

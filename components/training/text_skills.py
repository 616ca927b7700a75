"""Teach the tiny demo LLM the text tasks of its corpus, in the prompts it later receives speech in.

A random LLM makes every speech metric noise. Trained on repeat, continue, translate, intent and
question answering over the demo grammar's sentences (the corpus's training sentences plus fresh
ones, never a dev or test sentence), it has text skills that an adapter can transfer to speech.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from components.config import TextSkillsParams
from components.data import demo_grammar as grammar
from components.data.demo_corpus import DemoSentence
from components.data.demo_grammar import Clause
from components.data.languages import language_name
from components.modeling.prompted_llm import PromptedLLM
from components.reductions import fixed_order_mean
from components.training.schedule import OptimiserSettings, optimise

TASKS = ("repeat", "continue", "translate", "intent", "question")


@dataclass(frozen=True)
class TextExample:
    """A text task: the instruction, the sentence placed in the speech slot, and the answer."""

    task: str
    instruction: str
    text: str
    target: str


def task_example(
    task: str, clause: Clause, language: str, languages: Sequence[str], wording: str, rng: random.Random
) -> TextExample:
    """One example of ``task`` on ``clause`` spoken in ``language``."""
    text = grammar.render(clause, language)
    if task == "repeat":
        return TextExample(task, wording, text, text)
    if task == "continue":
        return TextExample(task, wording, text, grammar.continuation(clause, language))
    if task == "translate":
        other = rng.choice([code for code in languages if code != language])
        instruction = wording.format(language=language_name(other))
        return TextExample(task, instruction, text, grammar.render(clause, other))
    if task == "intent":
        return TextExample(task, wording, text, grammar.intent(clause))
    if task == "question":
        if rng.random() < 0.5:
            return TextExample(task, grammar.SUBJECT_QUESTION, text, grammar.subject_phrase(clause, language))
        return TextExample(task, grammar.OBJECT_QUESTION, text, grammar.object_phrase(clause, language))
    raise ValueError(f"unknown text task {task!r}; known: {TASKS}")


def available_tasks(languages: Sequence[str]) -> tuple[str, ...]:
    """Translation needs a second language."""
    return tuple(task for task in TASKS if task != "translate" or len(languages) > 1)


def sample_examples(
    clauses: Sequence[Clause],
    languages: Sequence[str],
    params: TextSkillsParams,
    count: int,
    rng: random.Random,
) -> list[TextExample]:
    """``count`` examples: a random clause, language, task and wording each."""
    wordings = params.instructions.by_task()
    tasks = available_tasks(languages)
    examples = []
    for _ in range(count):
        task = rng.choice(tasks)
        wording = rng.choice(wordings.get(task, [""]))
        examples.append(
            task_example(task, rng.choice(clauses), rng.choice(languages), languages, wording, rng)
        )
    return examples


def stretched_slots(
    slots: list[torch.Tensor], max_repeat: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """Repeat each token's embedding 1..max_repeat times, like the several frames a spoken word gets."""
    if max_repeat <= 1:
        return slots
    return [
        slot.repeat_interleave(torch.randint(1, max_repeat + 1, (slot.shape[0],), generator=generator), dim=0)
        for slot in slots
    ]


def noisy_slots(
    model: PromptedLLM, slots: list[torch.Tensor], max_noise: float, generator: torch.Generator
) -> list[torch.Tensor]:
    """Add Gaussian noise to each sentence's embeddings, at a level drawn per example in [0, max_noise]."""
    if max_noise <= 0:
        return slots
    # summed in a fixed order: the noise, and so the taught LLM, must not follow the thread count
    rms = fixed_order_mean(model.llm.get_input_embeddings().weight.detach().pow(2)).sqrt()
    levels = torch.rand(len(slots), generator=generator) * max_noise * rms
    return [
        slot + level * torch.randn(slot.shape, generator=generator)
        for slot, level in zip(slots, levels, strict=True)
    ]


def teach_text_skills(
    model: PromptedLLM,
    clauses: Sequence[Clause],
    languages: Sequence[str],
    params: TextSkillsParams,
    seed: int,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train every LLM weight on text tasks; returns the per-step loss history."""
    if not clauses:
        raise ValueError("prepare.text_skills: no sentences to learn from")
    rng = random.Random(seed)
    noise = torch.Generator().manual_seed(seed)

    def batch_loss(_: int) -> torch.Tensor:
        batch = sample_examples(clauses, languages, params, params.batch_size, rng)
        slots = model.text_slots([e.text for e in batch])
        slots = noisy_slots(
            model, stretched_slots(slots, params.slot_repeat, noise), params.slot_noise, noise
        )
        return model.loss([e.instruction for e in batch], slots, [e.target for e in batch])

    settings = OptimiserSettings(
        params.steps, params.lr, params.weight_decay, params.warmup_steps, params.grad_clip
    )
    parameters = [p for p in model.llm.parameters() if p.requires_grad]
    model.llm.train()
    try:
        return optimise(parameters, batch_loss, settings, "teaching the demo LLM", progress)
    finally:
        model.llm.eval()


def check_examples(
    clauses: Sequence[Clause], languages: Sequence[str], params: TextSkillsParams
) -> list[TextExample]:
    """Every task on every held-out clause, with each task's first wording, in a fixed order."""
    rng = random.Random(0)
    wordings = params.instructions.by_task()
    examples = []
    for index, clause in enumerate(clauses):
        language = languages[index % len(languages)]
        for task in available_tasks(languages):
            examples.append(task_example(task, clause, language, languages, wordings.get(task, [""])[0], rng))
    return examples


@torch.no_grad()
def measure_text_skills(
    model: PromptedLLM, examples: Sequence[TextExample], max_new_tokens: int = 32, batch_size: int = 64
) -> dict[str, float]:
    """Exact-match accuracy per task of greedy answers: the ceiling that speech input can reach."""
    correct: dict[str, list[bool]] = {}
    for start in range(0, len(examples), batch_size):
        batch = examples[start : start + batch_size]
        answers = model.generate(
            [e.instruction for e in batch], model.text_slots([e.text for e in batch]), max_new_tokens
        )
        for example, answer in zip(batch, answers, strict=True):
            correct.setdefault(example.task, []).append(answer.strip() == example.target)
    return {task: sum(hits) / len(hits) for task, hits in correct.items()}


def taught_clauses(corpus: Sequence[DemoSentence], extra: int, seed: int) -> list[Clause]:
    """The corpus's training clauses plus ``extra`` fresh ones; never a dev or test clause."""
    held_out = frozenset(s.clause for s in corpus if s.split != "train")
    taught = [s.clause for s in corpus if s.split == "train"]
    return taught + grammar.sample_clauses(
        extra, random.Random(seed + 1), exclude=held_out | frozenset(taught)
    )


def teach_demo_llm(
    llm_dir: Path,
    corpus: Sequence[DemoSentence],
    languages: Sequence[str],
    params: TextSkillsParams,
    seed: int,
    template: str,
) -> dict[str, Any]:
    """Teach the tiny LLM saved in ``llm_dir``, prompted in ``template``, on training and fresh
    sentences; check it on dev ones.

    Dev and test sentences are never taught, so the text-input ceiling is measured on unseen text.
    """
    from components.modeling.base_models import load_llm

    taught = taught_clauses(corpus, params.extra_sentences, seed)
    llm, tokenizer = load_llm(str(llm_dir))
    model = PromptedLLM(llm, tokenizer, template)
    start = time.perf_counter()
    history = teach_text_skills(model, taught, languages, params, seed)
    seconds = time.perf_counter() - start
    check = [s.clause for s in corpus if s.split == "dev"][: params.check_sentences]
    accuracy = measure_text_skills(model, check_examples(check, languages, params))
    llm.save_pretrained(llm_dir)
    last = history[-20:]
    return {
        "sentences_taught": len(taught),
        "steps": len(history),
        "final_loss": sum(step["loss"] for step in last) / max(1, len(last)),
        "seconds": round(seconds, 1),
        "check_sentences": len(check),
        "text_accuracy": accuracy,
    }

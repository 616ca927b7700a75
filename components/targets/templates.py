"""The instruction pools that ship with the package, checked when they are loaded.

``instruction_templates.json`` (BLOOMZMMS): instructions of many task types for the frozen LLM to
answer about a transcript; its answers become the adapter's targets, so variety here is variety of
supervision. ``task_instructions.json`` (SpeechVerse): paraphrases of each labelled task's request, so
the adapter learns the task and not one wording. Every entry is placed before the transcript (or the
speech) in the one prompt splice. A bad entry fails at load time, named, instead of mid-training.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType

LANGUAGE = "language"
QUESTION = "question"
TRANSLATE = "translate"
TemplatePool = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class PoolRules:
    """What a pool must look like: its size, its task types and each task's placeholders."""

    min_total: int
    min_tasks: int
    min_per_task: int = 1
    # task -> the placeholders each of its wordings must have (and the only ones it may have)
    placeholders: Mapping[str, frozenset[str]] = field(default_factory=dict)
    tasks: frozenset[str] | None = None  # exactly these task types, when given


TEMPLATE_RULES = PoolRules(
    min_total=200, min_tasks=8, min_per_task=1, placeholders={TRANSLATE: frozenset({LANGUAGE})}
)
TASK_RULES = PoolRules(
    min_total=40,
    min_tasks=4,
    min_per_task=10,
    placeholders={"st": frozenset({LANGUAGE}), "qa": frozenset({QUESTION})},
    tasks=frozenset({"asr", "st", "intent", "qa"}),
)


def placeholders(wording: str) -> set[str]:
    """The ``{name}`` placeholders of a wording (``ValueError`` on unbalanced braces)."""
    return {name for _, name, _, _ in string.Formatter().parse(wording) if name is not None}


def normalised(wording: str) -> str:
    return " ".join(wording.lower().split())


def check_pool(pool: object, name: str, rules: PoolRules) -> TemplatePool:
    """The pool as task -> wordings, or ``ValueError`` naming the first bad entry."""
    if not isinstance(pool, Mapping) or not all(isinstance(v, list) for v in pool.values()):
        raise ValueError(f"{name}: expected an object mapping each task type to a list of wordings")
    if rules.tasks is not None and set(pool) != rules.tasks:
        raise ValueError(f"{name}: task types {sorted(pool)}, expected {sorted(rules.tasks)}")
    if len(pool) < rules.min_tasks:
        raise ValueError(f"{name}: {len(pool)} task types, at least {rules.min_tasks} needed")
    seen: dict[str, str] = {}
    for task, wordings in pool.items():
        if len(wordings) < rules.min_per_task:
            raise ValueError(
                f"{name}: task {task!r} has {len(wordings)} wordings, at least {rules.min_per_task} needed"
            )
        required = rules.placeholders.get(task, frozenset())
        for index, wording in enumerate(wordings):
            entry = f"{name}: {task}[{index}] {wording!r}"
            if not isinstance(wording, str) or not wording.strip():
                raise ValueError(f"{entry}: empty or not a string")
            try:
                used = placeholders(wording)
            except ValueError as exc:
                raise ValueError(f"{entry}: {exc}") from None
            if used - required:
                raise ValueError(
                    f"{entry}: placeholder(s) {sorted(used - required)} not allowed "
                    f"(task {task!r} takes {sorted(required) or 'none'})"
                )
            if required - used:
                raise ValueError(f"{entry}: missing placeholder(s) {sorted(required - used)}")
            if not wording.format(**dict.fromkeys(used, "")).strip(" .:?!"):
                raise ValueError(f"{entry}: nothing but placeholders")
            key = normalised(wording)
            if key in seen:
                raise ValueError(f"{entry}: duplicate of {seen[key]}")
            seen[key] = f"{task}[{index}]"
    if len(seen) < rules.min_total:
        raise ValueError(f"{name}: {len(seen)} wordings, at least {rules.min_total} needed")
    return MappingProxyType({task: tuple(wordings) for task, wordings in pool.items()})


def load_pool(resource: str, rules: PoolRules) -> TemplatePool:
    text = resources.files("components.targets").joinpath(resource).read_text("utf-8")
    return check_pool(json.loads(text), resource, rules)


@cache
def instruction_templates() -> TemplatePool:
    """BLOOMZMMS's pool: task type -> templates; ``translate`` templates name a ``{language}``."""
    return load_pool("instruction_templates.json", TEMPLATE_RULES)


@cache
def task_instructions() -> TemplatePool:
    """SpeechVerse's paraphrases for asr, st (``{language}``), intent and qa (``{question}``)."""
    return load_pool("task_instructions.json", TASK_RULES)

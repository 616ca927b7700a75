"""BLOOMZMMS targets: the transcript itself (T), the frozen LLM's answers to many instructions (MI), or both.

T teaches the adapter to say what was said; MI makes it carry everything the LLM needs to answer
varied requests about the sentence, which is what lets new instructions work on speech. Each
utterance draws its own templates from a seeded generator keyed by its id, so a row's instructions do
not change when other rows are added or removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args

from components.config import Variant
from components.data.languages import language_name
from components.data.manifest import Utterance
from components.seeding import keyed_rng
from components.targets.generation import Engine, Request, generator_record, greedy_outputs
from components.targets.rows import GeneratedRows, target_row, transcript_rows
from components.targets.shards import ShardStore
from components.targets.templates import LANGUAGE, instruction_templates, placeholders

VARIANTS: tuple[str, ...] = get_args(Variant)
TRANSCRIBE = "transcribe"


@dataclass(frozen=True)
class Draw:
    """One template drawn for an utterance, and the instruction it becomes."""

    task: str
    template: str
    instruction: str


def draw_instructions(
    utt: Utterance,
    pool: Mapping[str, Sequence[str]],
    count: int,
    languages: Sequence[str],
    seed: int,
) -> list[Draw]:
    """``count`` distinct templates for one utterance; a ``{language}`` one names another language.

    Templates that need a language are left out when the corpus has no language but the utterance's.
    """
    others = sorted(set(languages) - {utt.language})
    candidates = [
        (task, template)
        for task in sorted(pool)
        for template in pool[task]
        if others or LANGUAGE not in placeholders(template)
    ]
    if count > len(candidates):
        raise ValueError(
            f"templates_per_transcript={count} but only {len(candidates)} templates apply to {utt.id!r}"
        )
    rng = keyed_rng(seed, utt.id)
    draws = []
    for task, template in rng.sample(candidates, count):
        if LANGUAGE in placeholders(template):
            instruction = template.format(language=language_name(rng.choice(others)))
        else:
            instruction = template
        draws.append(Draw(task, template, instruction))
    return draws


def multi_instruction_targets(
    model: Any,
    utterances: Sequence[Utterance],
    variant: Variant,
    templates_per_transcript: int,
    repeat_instruction: str,
    languages: Sequence[str],
    max_new_tokens: int,
    batch_size: int,
    seed: int,
    generator_id: str,
    pool: Mapping[str, Sequence[str]] | None = None,
    progress: bool = True,
    shards: ShardStore | None = None,
    engine: Engine | None = None,
) -> GeneratedRows:
    """T rows (transcript after ``repeat_instruction``), then MI rows (LLM answers), per ``variant``.

    MI answers are greedy, with the transcript in the slot; an empty answer teaches nothing, so its
    row is dropped and counted in ``empty``. ``pool`` defaults to the packaged templates.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant {variant!r}: expected one of {VARIANTS}")
    rows = transcript_rows(utterances, repeat_instruction, TRANSCRIBE) if "t" in variant else []
    if "mi" not in variant:
        return GeneratedRows(rows, 0)

    pool = instruction_templates() if pool is None else pool
    drawn = [
        (utt, draw)
        for utt in utterances
        for draw in draw_instructions(utt, pool, templates_per_transcript, languages, seed)
    ]
    requests = [Request(f"{utt.id}\x1f{draw.instruction}", draw.instruction, utt.text) for utt, draw in drawn]
    outputs = greedy_outputs(
        model, requests, max_new_tokens, batch_size, "writing MI targets", progress, shards, engine
    )
    record = generator_record(model, generator_id, max_new_tokens)
    empty = 0
    for (utt, draw), output in zip(drawn, outputs, strict=True):
        if not output.strip():
            empty += 1
            continue
        generator = {**record, "instruction_template": draw.template}
        rows.append(target_row(utt.id, draw.task, draw.instruction, output, "instruction", generator))
    return GeneratedRows(rows, empty)

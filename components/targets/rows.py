"""The target row contract, written in one place for every recipe.

A row is ``id`` (the utterance whose audio is the input), ``task``, ``instruction``, ``target``,
``source`` (where the target came from: an LLM ``continuation``, an LLM answer to an ``instruction``,
or the manifest's ``transcript``/labels) and ``generator`` (model id and decoding settings, or None for
targets copied from the manifest). An utterance may have several rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from components.data.manifest import Utterance

SOURCES = ("continuation", "instruction", "transcript")


class GeneratedRows(NamedTuple):
    """Rows the LLM wrote, and how many of its outputs were empty and dropped."""

    rows: list[dict[str, Any]]
    empty: int


def target_row(
    utterance_id: str,
    task: str,
    instruction: str,
    target: str,
    source: str,
    generator: dict[str, Any] | None,
) -> dict[str, Any]:
    if source not in SOURCES:
        raise ValueError(f"target row {utterance_id!r}: source {source!r} is not one of {SOURCES}")
    return {
        "id": utterance_id,
        "task": task,
        "instruction": instruction,
        "target": target,
        "source": source,
        "generator": generator,
    }


def transcript_rows(utterances: Sequence[Utterance], instruction: str, task: str) -> list[dict[str, Any]]:
    """One row per utterance whose target is its transcript: no LLM involved, so no generator."""
    return [target_row(utt.id, task, instruction, utt.text, "transcript", None) for utt in utterances]


def asr_targets(utterances: Sequence[Utterance], instruction: str) -> list[dict[str, Any]]:
    """Wav2Prompt's targets: the transcript after one fixed instruction."""
    return transcript_rows(utterances, instruction, "asr")

"""BLSP targets: the frozen LLM continues each transcript, and that continuation becomes the label."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.data.manifest import Utterance
from components.targets.generation import Request, generator_record, greedy_outputs
from components.targets.rows import target_row


def continuation_targets(
    model: Any,
    utterances: Sequence[Utterance],
    instruction: str,
    max_new_tokens: int,
    batch_size: int,
    generator_id: str,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """One target row per utterance, empty continuations included (the stage counts them)."""
    generator = generator_record(model, generator_id, max_new_tokens)
    requests = [Request(utt.id, instruction, utt.text) for utt in utterances]
    outputs = greedy_outputs(
        model, requests, max_new_tokens, batch_size, "writing continuation targets", progress
    )
    return [
        target_row(utt.id, "continuation", instruction, output, "continuation", generator)
        for utt, output in zip(utterances, outputs, strict=True)
    ]

"""BLSP targets: the frozen LLM continues each transcript, and that continuation becomes the label."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.data.manifest import Utterance
from components.targets.generation import Engine, Request, generator_record, greedy_outputs
from components.targets.rows import target_row
from components.targets.shards import ShardStore


def continuation_targets(
    model: Any,
    utterances: Sequence[Utterance],
    instruction: str,
    max_new_tokens: int,
    batch_size: int,
    generator_id: str,
    progress: bool = True,
    shards: ShardStore | None = None,
    engine: Engine | None = None,
) -> list[dict[str, Any]]:
    """One target row per utterance, empty continuations included (the stage counts them); finished
    batches go to ``shards`` and are read back from it (see :func:`greedy_outputs`)."""
    generator = generator_record(model, generator_id, max_new_tokens)
    requests = [Request(utt.id, instruction, utt.text) for utt in utterances]
    outputs = greedy_outputs(
        model, requests, max_new_tokens, batch_size, "writing continuation targets", progress, shards, engine
    )
    return [
        target_row(utt.id, "continuation", instruction, output, "continuation", generator)
        for utt, output in zip(utterances, outputs, strict=True)
    ]

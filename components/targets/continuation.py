"""BLSP targets: the frozen LLM continues each transcript, and that continuation becomes the label.

The LLM sees the transcript in the speech slot of the same prompt the adapter is later trained
with, decoded greedily with a bounded length, in left-padded batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.data.manifest import Utterance


def decoding_settings(max_new_tokens: int) -> dict[str, Any]:
    return {"do_sample": False, "num_beams": 1, "max_new_tokens": max_new_tokens}


def continuation_targets(
    model: Any,
    utterances: Sequence[Utterance],
    instruction: str,
    max_new_tokens: int,
    batch_size: int,
    generator_id: str,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """One target row per utterance (data contract: id, task, instruction, target, source, generator)."""
    from tqdm import tqdm

    generator = {"model": generator_id, "template": model.template, **decoding_settings(max_new_tokens)}
    # Longest first: similar lengths share a batch, and the order is fixed for determinism.
    order = sorted(range(len(utterances)), key=lambda i: (-len(utterances[i].text), utterances[i].id))
    outputs: dict[int, str] = {}
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    for batch in tqdm(batches, desc="writing continuation targets", disable=not progress):
        texts = [utterances[i].text for i in batch]
        generated = model.generate([instruction] * len(batch), model.text_slots(texts), max_new_tokens)
        outputs.update(zip(batch, generated, strict=True))
    return [
        {
            "id": utt.id,
            "task": "continuation",
            "instruction": instruction,
            "target": outputs[index],
            "source": "continuation",
            "generator": generator,
        }
        for index, utt in enumerate(utterances)
    ]

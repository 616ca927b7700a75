"""Greedy generation of targets by the frozen LLM, with the transcript in the speech slot.

BLSP's continuations and BLOOMZMMS's instruction answers are both written here: the LLM reads the
transcript where the speech will later go, in the same prompt the adapter is trained with, decoded
greedily with a bounded length, in left-padded batches of similar length in a fixed order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from components.targets.shards import ShardStore


@dataclass(frozen=True)
class Request:
    """One prompt: ``key`` orders equal lengths, so batches do not depend on the input order."""

    key: str
    instruction: str
    text: str


# writes one batch: (requests, max_new_tokens) -> each request's greedy answer, in order
Engine = Callable[[Sequence[Request], int], list[str]]


def hf_engine(model: Any) -> Engine:
    """The Hugging Face engine: the transcript's token embeddings in the speech slot, one left-padded
    batch through ``generate`` with the KV cache (:meth:`PromptedLLM.generate`)."""

    def write(requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        slots = model.text_slots([r.text for r in requests])
        return model.generate([r.instruction for r in requests], slots, max_new_tokens)

    return write


def decoding_settings(max_new_tokens: int) -> dict[str, Any]:
    return {"do_sample": False, "num_beams": 1, "max_new_tokens": max_new_tokens}


def generator_record(model: Any, generator_id: str, max_new_tokens: int) -> dict[str, Any]:
    """What a generated row records about how it was written: model, the prompt layout it was really
    rendered in (chat template and system prompt, or the template), decoding."""
    return {"model": generator_id, "prompt": model.prompt_record(), **decoding_settings(max_new_tokens)}


def greedy_outputs(
    model: Any,
    requests: Sequence[Request],
    max_new_tokens: int,
    batch_size: int,
    desc: str = "writing targets",
    progress: bool = True,
    shards: ShardStore | None = None,
    engine: Engine | None = None,
) -> list[str]:
    """The LLM's greedy output for each request, in the order of ``requests``, written by ``engine``
    (default :func:`hf_engine`; :mod:`components.targets.vllm_engine` on a GPU machine).

    Longest prompt first, so similar lengths share a batch and little padding is decoded; ties are
    broken by key, so the batches (and thus the outputs) are the same in every run. With ``shards``,
    each finished batch is saved as it finishes and a batch saved by an earlier, stopped run is read
    back instead of generated (see :mod:`components.targets.shards`).
    """
    from tqdm import tqdm

    write = engine or hf_engine(model)
    order = sorted(
        range(len(requests)),
        key=lambda i: (-(len(requests[i].instruction) + len(requests[i].text)), requests[i].key, i),
    )
    outputs: dict[int, str] = {}
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    written: dict[int, list[str]] = {}
    fan_out = getattr(write, "write_batches", None)  # an engine that writes many batches at once
    if fan_out is not None:
        pending = [
            index
            for index, batch in enumerate(batches)
            if shards is None or not shards.has([requests[i] for i in batch])
        ]
        answers = fan_out(
            [[requests[i] for i in batches[index]] for index in pending], max_new_tokens, shards
        )
        written = dict(zip(pending, answers, strict=True))
        write = hf_engine(model)  # a batch whose saved file proves unreadable is written here
        for index, texts in written.items():  # a remote worker may not reach the shard folder
            members = [requests[i] for i in batches[index]]
            if shards is not None and not shards.has(members):
                shards.save(members, texts)
    for index, batch in enumerate(tqdm(batches, desc=desc, disable=not progress)):
        members = [requests[i] for i in batch]
        answers = written.get(index)
        if answers is None and shards is not None:
            answers = shards.load(members)
        if answers is None:
            answers = write(members, max_new_tokens)
            if shards is not None:
                shards.save(members, answers)
        outputs.update(zip(batch, answers, strict=True))
    return [outputs[i] for i in range(len(requests))]

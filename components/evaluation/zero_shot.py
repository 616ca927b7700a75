"""Zero-shot evaluation: instructions the adapter never trained on, speech input beside text input.

The text-input baseline is the same frozen LLM given the transcript in the speech slot: the ceiling
that a perfect adapter would reach.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from components.config import EvaluateParams
from components.data.languages import language_name
from components.data.manifest import Utterance
from components.evaluation.metrics import asr_scores, translation_scores
from components.modeling.speech_llm import SpeechLLM, collate_features

INPUTS = ("speech", "text")


@dataclass(frozen=True)
class Query:
    """One zero-shot question: which utterance, which task, what instruction, what reference."""

    utterance: Utterance
    task: str
    instruction: str
    reference: str
    group: str  # language (ASR) or source-target pair (ST)


def build_queries(utterances: Sequence[Utterance], params: EvaluateParams) -> list[Query]:
    queries = []
    for utt in utterances:
        queries.append(Query(utt, "asr", params.asr_instruction, utt.text, utt.language))
        for target_language, translation in sorted((utt.translation or {}).items()):
            instruction = params.st_instruction.format(language=language_name(target_language))
            queries.append(Query(utt, "st", instruction, translation, f"{utt.language}-{target_language}"))
    return queries


def check_zero_shot(params: EvaluateParams, training_instructions: set[str]) -> None:
    """Refuse to call an evaluation zero-shot when its instruction was seen in training."""
    seen = {params.asr_instruction, params.st_instruction} & training_instructions
    if seen:
        raise ValueError(
            f"evaluate: instruction {sorted(seen)[0]!r} is used in training, so it is not zero-shot"
        )


def answer(
    model: SpeechLLM,
    queries: Sequence[Query],
    features: dict[str, np.ndarray],
    params: EvaluateParams,
    progress: bool = True,
) -> dict[str, list[str]]:
    """Generate each query's answer from speech and from text, in fixed-order batches."""
    from tqdm import tqdm

    outputs: dict[str, list[str]] = {name: [] for name in INPUTS}
    batches = [queries[i : i + params.batch_size] for i in range(0, len(queries), params.batch_size)]
    for batch in tqdm(batches, desc="zero-shot evaluation", disable=not progress):
        instructions = [q.instruction for q in batch]
        feats, mask = collate_features([features[q.utterance.id] for q in batch])
        speech = model.speech_slots(feats, mask)
        text = model.text_slots([q.utterance.text for q in batch])
        outputs["speech"].extend(model.generate(instructions, speech, params.max_new_tokens))
        outputs["text"].extend(model.generate(instructions, text, params.max_new_tokens))
    return outputs


def score(queries: Sequence[Query], outputs: dict[str, list[str]]) -> dict[str, Any]:
    """Per task and input kind: overall and per group (language or language pair)."""
    scorers = {"asr": asr_scores, "st": translation_scores}
    report: dict[str, Any] = {}
    for task, scorer in scorers.items():
        indices = [i for i, q in enumerate(queries) if q.task == task]
        if not indices:
            continue
        report[task] = {}
        for kind, hyps in outputs.items():
            groups: dict[str, list[int]] = defaultdict(list)
            for i in indices:
                groups[queries[i].group].append(i)
            report[task][kind] = {
                "all": scorer([queries[i].reference for i in indices], [hyps[i] for i in indices]),
                **{
                    group: scorer([queries[i].reference for i in members], [hyps[i] for i in members])
                    for group, members in sorted(groups.items())
                },
            }
    return report


def prediction_rows(queries: Sequence[Query], outputs: dict[str, list[str]]) -> list[dict[str, Any]]:
    return [
        {
            "id": q.utterance.id,
            "task": q.task,
            "instruction": q.instruction,
            "reference": q.reference,
            **{f"{kind}_output": outputs[kind][i] for kind in outputs},
        }
        for i, q in enumerate(queries)
    ]

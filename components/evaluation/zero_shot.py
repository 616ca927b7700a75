"""Zero-shot evaluation: tasks and wordings the adapter never trained on, beside their controls.

Each query is answered under four conditions: ``speech`` (the trained adapter on the query's own
audio), ``text`` (the frozen LLM given the transcript: the ceiling a perfect adapter would reach),
``untrained`` (the adapter as initialised before training) and ``shuffled`` (the trained adapter fed
the audio of a different sentence in the same language). Speech beating both controls is what transfer
means. ``own_asr_cascade`` answers each non-ASR query from the trained model's own ASR answer given as
text; where the encoder has its own ASR decoder, ``cascade`` answers from that decoder's transcript.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from components.config import EvaluateParams
from components.data.manifest import Utterance, task_labels
from components.evaluation.metrics import TASK_SCORERS
from components.modeling.speech_llm import SpeechLLM

CONDITIONS = ("speech", "shuffled", "untrained", "text")
OWN_CASCADE = "own_asr_cascade"  # answered from the trained model's own ASR answer, given as text
CASCADE = "cascade"  # answered from the encoder's own ASR transcript, where it has a decoder
# the conditions beside the four, in the order reports show them, with their column headings
CASCADES = {OWN_CASCADE: "cascade: own ASR → LLM", CASCADE: "cascade: encoder's own ASR → LLM"}


@dataclass(frozen=True)
class Query:
    """One zero-shot question: which utterance, which task, what instruction, what reference."""

    utterance: Utterance
    task: str
    instruction: str
    reference: str
    group: str  # language, or source-target pair for translation
    language: str = ""  # of the reference (the target language for translation): how it is scored


def build_queries(utterances: Sequence[Utterance], params: EvaluateParams) -> list[Query]:
    """ASR and translation for every utterance; intent and spoken QA where the manifest has them.

    Spoken QA asks the manifest's question itself, with no wording around it.
    """
    wordings = {
        "asr": params.asr_instruction,
        "st": params.st_instruction,
        "intent": params.intent_instruction,
        "qa": "{question}",
    }
    return [
        Query(
            utt,
            label.task,
            label.instruction(wordings[label.task]),
            label.reference,
            label.group,
            label.reference_language,
        )
        for utt in utterances
        for label in task_labels(utt)
    ]


def check_zero_shot(queries: Sequence[Query], training_instructions: set[str]) -> None:
    """Refuse to call an evaluation zero-shot when one of its instructions was seen in training."""
    seen = sorted({q.instruction for q in queries} & training_instructions)
    if seen:
        raise ValueError(
            f"evaluate: instruction {seen[0]!r} is used in training, so it is not zero-shot; "
            "choose another wording in params.yaml evaluate"
        )


def shuffled_partners(utterances: Sequence[Utterance], seed: int) -> dict[str, str]:
    """Pair each utterance with another of the same language whose transcript differs: the
    shuffled-audio control. Only where a language has no other transcript is the partner drawn from
    another language (a control across languages would also measure the language, not the content)."""
    order = sorted(range(len(utterances)), key=lambda i: utterances[i].id)
    random.Random(seed).shuffle(order)
    partners = {}
    for position, index in enumerate(order):
        me, fallback = utterances[index], None
        for step in range(1, len(order)):
            other = utterances[order[(position + step) % len(order)]]
            if other.text == me.text:
                continue
            if other.language == me.language:
                partners[me.id] = other.id
                break
            fallback = fallback or other.id
        else:
            if fallback is not None:
                partners[me.id] = fallback
    return partners


def answer(
    models: dict[str, SpeechLLM],
    queries: Sequence[Query],
    states: dict[str, np.ndarray],
    partners: dict[str, str],
    params: EvaluateParams,
    progress: bool = True,
    transcripts: dict[str, str] | None = None,
) -> dict[str, list[str]]:
    """Generate each query's answer under every condition; outputs in query order.

    ``models`` holds ``trained`` and ``untrained``: the same frozen encoder and LLM, two adapters.
    ``states`` maps an utterance id to its encoder states. ``transcripts`` (utterance id → ASR output)
    adds the ``cascade`` condition: the LLM as for ``text``, given the transcript an ASR system heard
    instead of the reference.

    Each condition is batched by the length of what fills its slot (encoder frames, or characters of
    text), shortest first, ties in query order: a batch is padded to its longest row, and one long
    clip among short ones would make every row of its batch pay for the long prefill.
    """
    from tqdm import tqdm

    trained, untrained = models["trained"], models["untrained"]
    heard = {q.utterance.id: q.utterance.text for q in queries}
    sources: dict[str, tuple[SpeechLLM, list[Any]]] = {
        "speech": (trained, [states[q.utterance.id] for q in queries]),
        "shuffled": (trained, [states[partners.get(q.utterance.id, q.utterance.id)] for q in queries]),
        "untrained": (untrained, [states[q.utterance.id] for q in queries]),
        "text": (trained, [heard[q.utterance.id] for q in queries]),
    }
    if transcripts is not None:
        sources[CASCADE] = (trained, [transcripts[q.utterance.id] for q in queries])
    instructions = [q.instruction for q in queries]
    limits = [token_limit(q.utterance.duration_s, params) for q in queries]  # by the query's own audio
    outputs = {
        # The untrained control answers with its own LLM scope: any LoRA as initialised (off).
        condition: generate_by_length(model, instructions, inputs, params, limits)
        for condition, (model, inputs) in tqdm(
            sources.items(), desc="zero-shot evaluation", disable=not progress
        )
    }
    own = own_asr_cascade(trained, queries, outputs["speech"], params)
    return {**outputs, OWN_CASCADE: own} if own is not None else outputs


def own_asr_cascade(
    model: SpeechLLM, queries: Sequence[Query], speech: Sequence[str], params: EvaluateParams
) -> list[str] | None:
    """The cascade through the model's own ears: each query answered by the LLM given, as text, what
    the trained model answered to its utterance's ASR query (an ASR query's own answer is itself).
    None when no ASR query was asked (nothing to cascade from)."""
    heard = {q.utterance.id: speech[i] for i, q in enumerate(queries) if q.task == "asr"}
    if not heard:
        return None
    answers = list(speech)
    others = [i for i, q in enumerate(queries) if q.task != "asr" and q.utterance.id in heard]
    texts = [heard[queries[i].utterance.id] for i in others]
    for i, text in zip(
        others,
        generate_by_length(
            model,
            [queries[i].instruction for i in others],
            texts,
            params,
            [token_limit(queries[i].utterance.duration_s, params) for i in others],
        ),
        strict=True,
    ):
        answers[i] = text
    unheard = [i for i, q in enumerate(queries) if q.task != "asr" and q.utterance.id not in heard]
    for i in unheard:  # no ASR answer to cascade from: scored as an empty answer
        answers[i] = ""
    return answers


CONSTRAINED = "{condition}_constrained"  # intent chosen from the label set, beside free generation


def constrained_intents(
    models: dict[str, SpeechLLM], queries: Sequence[Query], states: dict[str, np.ndarray]
) -> dict[str, list[str]]:
    """Each intent query answered by choosing from the split's intent labels
    (:meth:`PromptedLLM.choose`) under the speech, untrained and text conditions; other queries get "".
    Empty when no query asks for an intent."""
    intents = [i for i, q in enumerate(queries) if q.task == "intent"]
    if not intents:
        return {}
    labels = sorted({queries[i].reference for i in intents})
    trained, untrained = models["trained"], models["untrained"]
    instructions = [queries[i].instruction for i in intents]
    speech = [states[queries[i].utterance.id] for i in intents]
    slots = {
        "speech": (trained, trained.state_slots(speech)),
        "untrained": (untrained, untrained.state_slots(speech)),
        "text": (trained, trained.text_slots([queries[i].utterance.text for i in intents])),
    }
    outputs = {}
    for condition, (model, condition_slots) in slots.items():
        answers = [""] * len(queries)
        for index, label in zip(intents, model.choose(instructions, condition_slots, labels), strict=True):
            answers[index] = label
        outputs[CONSTRAINED.format(condition=condition)] = answers
    return outputs


def token_limit(seconds: float, params: EvaluateParams) -> int:
    """New tokens an answer about ``seconds`` of speech may take: ``max_new_tokens``, or with
    ``new_tokens_per_second`` set, ``8 + ceil(rate × seconds)`` when that is fewer (speech runs at
    about 3 LLM tokens a second: a transcript or translation needs no more, and a control that babbles
    stops there instead of at the fixed limit)."""
    if params.new_tokens_per_second is None:
        return params.max_new_tokens
    return min(params.max_new_tokens, 8 + math.ceil(params.new_tokens_per_second * seconds))


def generate_by_length(
    model: SpeechLLM,
    instructions: Sequence[str],
    inputs: Sequence[np.ndarray | str],
    params: EvaluateParams,
    limits: Sequence[int] | None = None,
) -> list[str]:
    """Greedy answers to ``instructions`` with ``inputs`` (encoder states or texts) in their slots, in
    input order, generated in batches of ``params.batch_size`` formed shortest input first; each batch
    decodes at most the largest of its rows' ``limits`` (new tokens; default ``max_new_tokens``)."""
    order = sorted(range(len(inputs)), key=lambda i: (slot_length(inputs[i]), i))
    answers: list[str] = [""] * len(inputs)
    for start in range(0, len(order), params.batch_size):
        batch = order[start : start + params.batch_size]
        rows = [inputs[i] for i in batch]
        slots = model.text_slots(rows) if isinstance(rows[0], str) else model.state_slots(rows)
        most = max(limits[i] for i in batch) if limits is not None else params.max_new_tokens
        generated = model.generate([instructions[i] for i in batch], slots, most)
        for index, text in zip(batch, generated, strict=True):
            answers[index] = text
    return answers


def slot_length(slot_input: np.ndarray | str) -> int:
    """How long a slot's input is: encoder frames of states (…, T', D), or characters of a text."""
    return len(slot_input) if isinstance(slot_input, str) else int(slot_input.shape[-2])


def score(
    queries: Sequence[Query], outputs: dict[str, list[str]], constrained: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """Per task and condition: overall and per group (language or language pair); intent also under
    each ``constrained`` condition (:func:`constrained_intents`)."""
    report: dict[str, Any] = {}
    for task, scorer in TASK_SCORERS.items():
        indices = [i for i, q in enumerate(queries) if q.task == task]
        if not indices:
            continue
        groups: dict[str, list[int]] = defaultdict(list)
        for i in indices:
            groups[queries[i].group].append(i)
        report[task] = {}
        conditions = outputs | (constrained or {}) if task == "intent" else outputs
        for condition, hyps in conditions.items():
            report[task][condition] = {
                "all": scored(scorer, queries, hyps, indices),
                **{
                    group: scored(scorer, queries, hyps, members) for group, members in sorted(groups.items())
                },
            }
    return report


def scored(
    scorer: Any, queries: Sequence[Query], hyps: Sequence[str], indices: Sequence[int]
) -> dict[str, Any]:
    """``scorer`` over the queries at ``indices``, each scored by its reference's language."""
    return scorer(
        [queries[i].reference for i in indices],
        [hyps[i] for i in indices],
        [queries[i].language for i in indices],
    )


def prediction_rows(queries: Sequence[Query], outputs: dict[str, list[str]]) -> list[dict[str, Any]]:
    return [
        {
            "id": q.utterance.id,
            "task": q.task,
            "instruction": q.instruction,
            "reference": q.reference,
            "language": q.language,  # how the reference is scored; lets two versions be compared later
            **{f"{condition}_output": outputs[condition][i] for condition in outputs},
        }
        for i, q in enumerate(queries)
    ]

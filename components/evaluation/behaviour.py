"""BLSP's behaviour metric: does the LLM continue the speech as it continues the transcript?

BLSP trains the adapter so that the frozen LLM, given speech, behaves as it does given the transcript
(its targets are the LLM's own continuations of transcripts). The metric asks that of held-out
utterances: each test utterance is continued under the training instruction from its speech and from
its transcript, and the two continuations are compared: chrF of the speech continuations against the
text ones (sacrebleu), and the share that are identical. The untrained adapter is the control. This
is the trained behaviour measured on unseen audio, not a zero-shot task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from components.config import EvaluateParams
from components.data.manifest import Utterance
from components.evaluation.zero_shot import generate_by_length, token_limit
from components.modeling.speech_llm import SpeechLLM


def agreement(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """chrF of ``hypotheses`` against ``references`` and the share that are identical."""
    from sacrebleu.metrics import CHRF

    same = sum(h == r for h, r in zip(hypotheses, references, strict=True))
    return {
        "chrf": round(CHRF().corpus_score(list(hypotheses), [list(references)]).score, 4),
        "identical": round(same / len(references), 4) if references else 0.0,
    }


def behaviour_agreement(
    models: dict[str, SpeechLLM],
    utterances: Sequence[Utterance],
    states: dict[str, np.ndarray],
    instruction: str,
    params: EvaluateParams,
) -> dict[str, Any]:
    """Agreement of continuations from speech (trained and untrained adapter) with those from the
    transcript, over ``utterances`` under ``instruction``; each continuation bounded as an answer."""
    if not utterances:
        return {}
    instructions = [instruction] * len(utterances)
    limits = [token_limit(u.duration_s, params) for u in utterances]
    audio = [states[u.id] for u in utterances]
    text = generate_by_length(models["trained"], instructions, [u.text for u in utterances], params, limits)
    return {
        "instruction": instruction,
        "n": len(utterances),
        **{
            condition: agreement(generate_by_length(models[model], instructions, audio, params, limits), text)
            for condition, model in (("speech", "trained"), ("untrained", "untrained"))
        },
    }


def format_behaviour(behaviour: dict[str, Any]) -> str:
    """One markdown line for the report; empty when nothing was measured."""
    if not behaviour:
        return ""
    speech, untrained = behaviour["speech"], behaviour["untrained"]
    return (
        f'Behaviour (BLSP): continuing {behaviour["n"]} test utterances under "{behaviour["instruction"]}",'
        f" the continuation from speech matches the one from the transcript at chrF {speech['chrf']:.1f}"
        f" ({speech['identical']:.0%} identical); untrained adapter chrF {untrained['chrf']:.1f}"
        f" ({untrained['identical']:.0%} identical)."
    )

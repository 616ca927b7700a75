"""Scores: WER/CER with jiwer on normalised text, BLEU/chrF with sacrebleu on raw text."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_PUNCTUATION = re.compile(r"[^\w\s']", re.UNICODE)


def normalise_for_asr(text: str) -> str:
    """Lower-case, NFC, no punctuation, single spaces: WER should count words, not commas."""
    text = unicodedata.normalize("NFC", text).lower()
    return " ".join(_PUNCTUATION.sub(" ", text).split())


def asr_scores(references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, float]:
    import jiwer

    refs = [normalise_for_asr(r) for r in references]
    # jiwer rejects an empty hypothesis list entry only when the reference is empty; keep a placeholder.
    hyps = [normalise_for_asr(h) or "<empty>" for h in hypotheses]
    return {"wer": float(jiwer.wer(refs, hyps)), "cer": float(jiwer.cer(refs, hyps)), "n": len(refs)}


def translation_scores(references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, float]:
    import sacrebleu

    refs = [list(references)]
    return {
        "bleu": float(sacrebleu.corpus_bleu(list(hypotheses), refs).score),
        "chrf": float(sacrebleu.corpus_chrf(list(hypotheses), refs).score),
        "n": len(references),
    }


def accuracy_scores(references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, float]:
    """Exact match after ASR normalisation: for labels (intent) and short answers (spoken QA)."""
    hits = [normalise_for_asr(r) == normalise_for_asr(h) for r, h in zip(references, hypotheses, strict=True)]
    return {"accuracy": sum(hits) / max(1, len(hits)), "n": len(hits)}


def utterance_cer(reference: str, hypothesis: str) -> float:
    """One utterance's CER, for paired comparisons between conditions."""
    import jiwer

    return float(jiwer.cer(normalise_for_asr(reference), normalise_for_asr(hypothesis) or "<empty>"))


def paired_bootstrap(differences: Sequence[float], seed: int = 0, samples: int = 2000) -> dict[str, float]:
    """Mean of paired per-utterance differences with a percentile-bootstrap 95% interval."""
    import numpy as np

    values = np.asarray(differences, dtype=np.float64)
    if values.size == 0:
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(samples, values.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"mean": float(values.mean()), "low": float(low), "high": float(high), "n": int(values.size)}


TASK_SCORERS = {
    "asr": asr_scores,
    "st": translation_scores,
    "intent": accuracy_scores,
    "qa": accuracy_scores,
}

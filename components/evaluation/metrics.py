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

"""Scores by the field's conventions.

ASR: WER/CER (jiwer) on text normalised as Whisper's evaluation does (``whisper-normalizer``: the
English normaliser for English, the basic one for every other language); for languages written
without spaces between words, CER over the characters without spaces, and no WER. Translation:
BLEU and chrF (sacrebleu) on raw text, BLEU tokenised for the target language (``zh``, ``ja-mecab``,
``ko-mecab``, else ``13a``), its signature stored beside the score. An empty answer is scored as
empty (CER 1 against a non-empty reference), never as a placeholder word.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

ENGLISH = "eng"
# ISO 639-3 codes of languages written without spaces between words: CER without spaces, no WER
SPACELESS = frozenset(
    {"zho", "cmn", "yue", "wuu", "nan", "hak", "jpn", "tha", "lao", "mya", "khm", "bod", "dzo"}
)
BLEU_TOKENIZERS = {"zho": "zh", "cmn": "zh", "yue": "zh", "wuu": "zh", "jpn": "ja-mecab", "kor": "ko-mecab"}
DEFAULT_BLEU_TOKENIZER = "13a"
NORMALISER = "whisper-normalizer (English for eng, basic otherwise)"


@functools.cache
def _normaliser(language: str) -> Callable[[str], str]:
    from whisper_normalizer.basic import BasicTextNormalizer
    from whisper_normalizer.english import EnglishTextNormalizer

    # marks kept: vowel signs, viramas and tone marks are letters of Indic, Thai or Arabic words
    return EnglishTextNormalizer() if language == ENGLISH else BasicTextNormalizer(preserve_marks=True)


def normalise_for_asr(text: str, language: str = "") -> str:
    """Whisper's normalisation for ``language`` (ISO 639-3), single-spaced; spaces removed for a
    language written without them."""
    words = _normaliser(language)(text).split()
    return "".join(words) if language in SPACELESS else " ".join(words)


def asr_scores(
    references: Sequence[str], hypotheses: Sequence[str], languages: Sequence[str] | None = None
) -> dict[str, float]:
    """Corpus CER (and WER where every row's language is written with spaces) over normalised text;
    ``languages`` holds each row's ISO 639-3 code (none: the basic normaliser).

    A reference that normalises to nothing (Whisper's normalisers drop bracketed notes such as
    "(laughs)" and English fillers such as "hmm") cannot be scored: its row is left out and counted
    as ``unscorable``; with no row left the scores are NaN.
    """
    import jiwer

    languages = list(languages or [""] * len(references))
    pairs = [
        (normalise_for_asr(r, lang), normalise_for_asr(h, lang))
        for r, h, lang in zip(references, hypotheses, languages, strict=True)
    ]
    kept = [(ref, hyp) for ref, hyp in pairs if ref]
    refs, hyps = [ref for ref, _ in kept], [hyp for _, hyp in kept]
    scores: dict[str, float] = {
        "cer": float(jiwer.cer(refs, hyps)) if kept else float("nan"),
        "n": len(kept),
        "unscorable": len(pairs) - len(kept),
    }
    if not SPACELESS.intersection(languages):
        scores["wer"] = float(jiwer.wer(refs, hyps)) if kept else float("nan")
    return scores


def bleu_tokenizer(languages: Sequence[str]) -> str:
    """The sacrebleu tokenizer for references in ``languages``: the language's own when they share
    one, else ``13a``."""
    chosen = {BLEU_TOKENIZERS.get(lang, DEFAULT_BLEU_TOKENIZER) for lang in languages}
    return chosen.pop() if len(chosen) == 1 else DEFAULT_BLEU_TOKENIZER


def translation_scores(
    references: Sequence[str], hypotheses: Sequence[str], languages: Sequence[str] | None = None
) -> dict[str, float | str]:
    """Corpus BLEU and chrF; ``languages`` holds each reference's (target) language."""
    import sacrebleu

    refs = [list(references)]
    bleu = sacrebleu.BLEU(tokenize=bleu_tokenizer(languages or []))
    chrf = sacrebleu.CHRF()
    return {
        "bleu": float(bleu.corpus_score(list(hypotheses), refs).score),
        "chrf": float(chrf.corpus_score(list(hypotheses), refs).score),
        "bleu_signature": bleu.get_signature().format(),
        "n": len(references),
    }


def accuracy_scores(
    references: Sequence[str], hypotheses: Sequence[str], languages: Sequence[str] | None = None
) -> dict[str, float]:
    """Exact match after ASR normalisation: for labels (intent)."""
    languages = list(languages or [""] * len(references))
    hits = [
        normalise_for_asr(r, lang) == normalise_for_asr(h, lang)
        for r, h, lang in zip(references, hypotheses, languages, strict=True)
    ]
    return {"accuracy": sum(hits) / max(1, len(hits)), "n": len(hits)}


def answer_tokens(text: str, language: str = "") -> list[str]:
    """An answer's tokens as SQuAD compares them (Rajpurkar et al., 2016): normalised as for ASR,
    English articles dropped; characters for languages written without spaces."""
    if language in SPACELESS:  # no words to count: characters are the tokens (as CMRC and MLQA score)
        return list(normalise_for_asr(text, language))
    words = normalise_for_asr(text, language).split()
    return [w for w in words if w not in ("a", "an", "the")] if language == ENGLISH else words


def qa_scores(
    references: Sequence[str], hypotheses: Sequence[str], languages: Sequence[str] | None = None
) -> dict[str, float]:
    """Spoken QA as extractive QA is scored: exact match and token F1 (the harmonic mean of token
    precision and recall, bag of words), each averaged over questions."""
    from collections import Counter

    languages = list(languages or [""] * len(references))
    exact, f1 = [], []
    for reference, hypothesis, language in zip(references, hypotheses, languages, strict=True):
        ref, hyp = answer_tokens(reference, language), answer_tokens(hypothesis, language)
        exact.append(float(ref == hyp))
        common = sum((Counter(ref) & Counter(hyp)).values())
        if not ref or not hyp:
            f1.append(float(ref == hyp))
        elif common == 0:
            f1.append(0.0)
        else:
            precision, recall = common / len(hyp), common / len(ref)
            f1.append(2 * precision * recall / (precision + recall))
    n = max(1, len(exact))
    return {"exact_match": sum(exact) / n, "f1": sum(f1) / n, "n": len(exact)}


def utterance_cer(reference: str, hypothesis: str, language: str = "") -> float:
    """One utterance's CER, normalised as :func:`asr_scores` does, for paired comparisons; NaN when
    its reference normalises to nothing."""
    return asr_scores([reference], [hypothesis], [language])["cer"]


def sentence_key(reference: str, language: str = "") -> str:
    """The unit a paired bootstrap resamples: one sentence in one language, however many voices say it."""
    return f"{language}\x1f{normalise_for_asr(reference, language)}"


def paired_bootstrap(
    differences: Sequence[float],
    seed: int = 0,
    samples: int = 2000,
    clusters: Sequence[str] | None = None,
) -> dict[str, float | str]:
    """Mean of paired per-utterance differences with a percentile-bootstrap 95% interval.

    With ``clusters`` (one key per difference, e.g. the sentence an utterance speaks) whole clusters
    are resampled, not utterances (a cluster bootstrap): several voices saying one sentence are not
    independent samples, and resampling them one by one would make the interval too narrow.
    """
    import numpy as np

    values = np.asarray(differences, dtype=np.float64)
    keys = list(clusters) if clusters is not None else [str(i) for i in range(values.size)]
    if len(keys) != values.size:
        raise ValueError(f"paired_bootstrap: {values.size} differences but {len(keys)} cluster keys")
    unit = "sentences" if clusters is not None else "utterances"
    if values.size == 0:
        return {
            "mean": float("nan"),
            "low": float("nan"),
            "high": float("nan"),
            "n": 0,
            "clusters": 0,
            "resampled": unit,
        }
    names = sorted(set(keys))
    index = {name: i for i, name in enumerate(names)}
    member = np.array([index[k] for k in keys])
    sums = np.bincount(member, weights=values, minlength=len(names))
    counts = np.bincount(member, minlength=len(names)).astype(np.float64)
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(names), size=(samples, len(names)))
    means = sums[drawn].sum(axis=1) / counts[drawn].sum(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {
        "mean": float(values.mean()),
        "low": float(low),
        "high": float(high),
        "n": int(values.size),
        "clusters": len(names),
        "resampled": unit,
    }


TASK_SCORERS = {
    "asr": asr_scores,
    "st": translation_scores,
    "intent": accuracy_scores,
    "qa": qa_scores,
}

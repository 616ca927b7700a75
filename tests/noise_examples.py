"""Training examples over noise clips: what trainer tests need when the audio's content does not matter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def noise_examples(
    model: Any,
    texts: Sequence[str],
    samples: Sequence[int],
    ids: Sequence[str] | None = None,
    languages: Sequence[str] | None = None,
    seed: int = 0,
) -> list[Any]:
    """One ``asr`` example per text: a seeded noise clip of that many samples, the text as transcript
    and target, "say it" as instruction; ids ``u0``, ``u1``… unless given."""
    import numpy as np

    from components.modeling.speech_llm import extract_features
    from components.training.trainer import Example

    rng = np.random.default_rng(seed)
    ids = ids or [f"u{i}" for i in range(len(texts))]
    languages = languages or [""] * len(texts)
    return [
        Example(
            uid,
            model.clip_states(
                extract_features(model.feature_extractor, rng.standard_normal(n).astype("float32") * 0.1)
            ),
            "say it",
            text,
            "asr",
            text,
            language,
        )
        for uid, text, n, language in zip(ids, texts, samples, languages, strict=True)
    ]

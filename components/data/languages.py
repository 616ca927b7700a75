"""Language names used in instructions (ISO 639-3 code → English name)."""

from __future__ import annotations

LANGUAGE_NAMES = {"eng": "English", "fra": "French", "deu": "German", "spa": "Spanish"}


def language_name(code: str) -> str:
    try:
        return LANGUAGE_NAMES[code]
    except KeyError:
        raise ValueError(f"unknown language code {code!r}; known: {sorted(LANGUAGE_NAMES)}") from None

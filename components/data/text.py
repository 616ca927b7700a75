"""Canonical transcripts: what "the same text" and "no text" mean for every corpus.

Text is canonicalised once, on import: Unicode NFC (so a precomposed "é" and "e" + combining acute are
one spelling), invisible format characters removed (zero-width space, word joiner, byte-order mark,
soft hyphen, bidirectional marks; ZWNJ and ZWJ are kept, as Persian and Indic spelling needs them),
control characters turned into spaces, and whitespace collapsed to single spaces. A text is blank
when it holds no letter or digit, whatever else it holds (spaces, punctuation, symbols).
"""

from __future__ import annotations

import unicodedata

# format characters (category Cf) that carry spelling: zero-width non-joiner and joiner
KEPT_FORMAT = frozenset({"\u200c", "\u200d"})


def canonical_text(text: str) -> str:
    """``text`` in NFC with invisible format characters removed, controls as spaces, single-spaced."""
    kept = []
    for char in unicodedata.normalize("NFC", text):
        category = unicodedata.category(char)
        if category == "Cf" and char not in KEPT_FORMAT:
            continue
        kept.append(" " if category == "Cc" else char)
    return " ".join("".join(kept).split())


def is_blank(text: str) -> bool:
    """True when ``text`` holds no letter or digit (Unicode categories L* and N*)."""
    return not any(unicodedata.category(char)[0] in "LN" for char in text)

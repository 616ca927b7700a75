"""Language codes: every manifest speaks ISO 639-3; corpora label their speech in many conventions.

``iso639_3`` turns what corpora write (ISO 639-1 ``en``, locales ``en-US``/``en_us``, ISO 639-2/B
``fre``/``ger``, ISO 639-3 ``eng``) into the one code the pipeline compares. ``langcodes`` owns the
IANA registry and its aliases, so no table of codes is kept here.
"""

from __future__ import annotations

import re
from functools import cache

LANGUAGE_NAMES = {"eng": "English", "fra": "French", "deu": "German", "spa": "Spanish"}


def language_name(code: str) -> str:
    try:
        return LANGUAGE_NAMES[code]
    except KeyError:
        raise ValueError(f"unknown language code {code!r}; known: {sorted(LANGUAGE_NAMES)}") from None


@cache
def iso639_3(code: str) -> str:
    """The ISO 639-3 code of a language code or locale; ``ValueError`` naming the code if it is unknown.

    Region, script and variant subtags are dropped: the manifest records the language, not the locale.
    """
    import langcodes

    try:
        language = langcodes.Language.get(code.strip()).language
        if (
            language
            and re.fullmatch(r"[a-z]{2,3}", language)
            and langcodes.Language.make(language).is_valid()
        ):
            return langcodes.Language.make(language).to_alpha3()
    except (ValueError, LookupError):
        pass
    raise ValueError(
        f"unknown language code {code!r} (expected an ISO 639 code or a locale, e.g. en, en-US, fra)"
    )

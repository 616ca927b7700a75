"""Language codes: every manifest speaks ISO 639-3; corpora label their speech in many conventions.

``iso639_3`` turns what corpora write (ISO 639-1 ``en``, locales ``en-US``/``en_us``, ISO 639-2/B
``fre``/``ger``, ISO 639-3 ``eng``) into the one code the pipeline compares; ``language_name`` gives
its English name. ``langcodes`` owns the IANA registry, its aliases and names, so no table of codes or
names is kept here.
"""

from __future__ import annotations

import re
from functools import cache

NOT_LANGUAGES = ("special", "private-use")  # registry scopes of und, mul, zxx, mis, qaa..qtz


@cache
def registry_names() -> dict[str, str]:
    """ISO 639-3 code → English name, from the IANA subtag registry's descriptions that langcodes ships.

    langcodes' ``display_name`` would need the separate ``language_data`` package; the registry needs
    nothing more. Two-letter subtags are keyed by their ISO 639-3 code; deprecated subtags and codes that
    name no language are left out; a qualifier such as "(macrolanguage)" is dropped, as a prompt reads
    the name.
    """
    import langcodes
    from langcodes.registry_parser import parse_registry

    names: dict[str, str] = {}
    for entry in parse_registry():
        subtag = entry.get("Subtag", "")
        if entry.get("Type") != "language" or "Deprecated" in entry or entry.get("Scope") in NOT_LANGUAGES:
            continue
        code = langcodes.Language.make(language=subtag).to_alpha3() if len(subtag) == 2 else subtag
        names[code] = re.sub(r"\s*\(.*\)$", "", entry["Description"][0])
    return names


def language_name(code: str) -> str:
    """The English name of a language, as prompts say it ("Translate … into {language}"): any ISO 639-3
    code (``cmn`` → Mandarin Chinese), or any code :func:`iso639_3` reads (``fr-FR`` → French).

    ``ValueError`` naming the code when it is unknown or names no particular language (``mul``, ``qaa``).
    """
    names = registry_names()
    if code in names:  # as given: tgl is Tagalog, though langcodes would normalise it to fil (Filipino)
        return names[code]
    iso = iso639_3(code)
    if iso not in names:
        raise ValueError(
            f"unknown language code {code!r}: {iso} is a special or private-use code that names no"
            " particular language (expected e.g. eng, fra, cmn)"
        )
    return names[iso]


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

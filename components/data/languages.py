"""Language codes: every manifest speaks ISO 639-3; corpora label their speech in many conventions.

``iso639_3`` turns what corpora write (ISO 639-1 ``en``, locales ``en-US``/``en_us``, ISO 639-2/B
``fre``/``ger``, ISO 639-3 ``eng`` or ``tok``, English names ``English``) into the one code the pipeline
compares; ``language_name`` gives its English name. ``langcodes`` owns the IANA registry, its locales,
aliases and names; ``python-iso639`` owns the current ISO 639-3 tables (codes added since the IANA
registry langcodes ships, such as ``tok``, and the reference names). No table of codes or names is
kept here, except :data:`LOCALE_LANGUAGES`: corpus locales whose language subtag names another
language than their speech.
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
    if iso not in names and iso_table_code(iso) == iso:  # newer than the IANA registry (tok)
        from iso639 import Language

        return Language.from_part3(iso).name
    if iso not in names:
        raise ValueError(
            f"unknown language code {code!r}: {iso} is a special or private-use code that names no"
            " particular language (expected e.g. eng, fra, cmn)"
        )
    return names[iso]


# Locales whose language subtag is not the language spoken: Common Voice's zh-HK is Cantonese, which
# the subtag alone would read as the Chinese macrolanguage (zho). Keys are lower case, "-"-separated.
LOCALE_LANGUAGES = {"zh-hk": "yue"}


@cache
def iso639_3(code: str) -> str:
    """The ISO 639-3 code of a language code, an English language name or a locale; ``ValueError``
    naming the code if it is unknown.

    In order: a locale of :data:`LOCALE_LANGUAGES`; a code or English name (any case) in the current
    ISO 639 tables; a locale by its language subtag (region, script and variant dropped: the manifest
    keeps the original locale beside the code). Codes for no particular language (``und``, ``mul``)
    are not languages of speech.
    """
    import langcodes

    text = code.strip()
    if text.lower().replace("_", "-") in LOCALE_LANGUAGES:
        return LOCALE_LANGUAGES[text.lower().replace("_", "-")]
    found = iso_table_code(text)
    if found:
        return found
    try:
        language = langcodes.Language.get(text).language
        if language and re.fullmatch(r"[a-z]{2,3}", language):
            if langcodes.Language.make(language).is_valid():
                return langcodes.Language.make(language).to_alpha3()
            if found := iso_table_code(language):  # a code newer than langcodes' registry, e.g. tok-x-...
                return found
    except (ValueError, LookupError):
        pass
    raise ValueError(
        f"unknown language code {code!r} (expected an ISO 639 code, a locale or an English language name,"
        " e.g. en, en-US, fra, English)"
    )


def iso_table_code(text: str) -> str | None:
    """The ISO 639-3 code ``text`` names in python-iso639's tables (a code of any part, or a reference
    name in any case), or None; special codes (``und``, ``mul``, ``zxx``, ``mis``) give None and a
    retired code gives the code that replaced it (``mol`` → ``ron``)."""
    from iso639 import Language, LanguageNotFoundError

    for candidate in dict.fromkeys((text, text.lower(), text.title())):
        try:
            language = Language.match(candidate)
        except LanguageNotFoundError:
            continue
        if language.scope == "S":
            return None
        if language.status == "R" and language.retire_change_to:  # retired: the code that replaced it
            return iso_table_code(language.retire_change_to)
        return language.part3
    return None

"""Language names for prompts come from langcodes for any ISO 639-3 code, and unknown codes say so."""

from __future__ import annotations

import pytest

from components.data.languages import language_name


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("eng", "English"),  # the demo's languages keep the names its prompts were written with
        ("spa", "Spanish"),
        ("fra", "French"),
        ("deu", "German"),
        ("cmn", "Mandarin Chinese"),  # FLEURS
        ("yue", "Yue Chinese"),
        ("swa", "Swahili"),  # a macrolanguage, without the registry's "(macrolanguage)"
        ("ell", "Modern Greek"),  # without "(1453-)"
        ("tgl", "Tagalog"),  # as given, not normalised to Filipino
        ("fil", "Filipino"),
        ("ast", "Asturian"),  # only a three-letter code exists
        ("nob", "Norwegian Bokmål"),
        ("fr-FR", "French"),  # any code iso639_3 reads
        ("tok", "Toki Pona"),  # in ISO 639-3 since 2022, after the IANA registry langcodes ships
        ("English", "English"),  # English names, as FLEURS-style datasets write them, in any case
        ("english", "English"),
        ("Mandarin Chinese", "Mandarin Chinese"),
    ],
)
def test_language_name_is_the_english_name_of_any_iso639_3_code(code: str, name: str) -> None:
    assert language_name(code) == name


@pytest.mark.parametrize("code", ["xx", "zzz", "Klingonish", "", "und"])
def test_language_name_of_an_unknown_code_names_the_code(code: str) -> None:
    with pytest.raises(
        ValueError, match=f"unknown language code {code!r} \\(expected an ISO 639 code, a locale"
    ):
        language_name(code)


@pytest.mark.parametrize("code", ["mul", "zxx", "mis", "qqq"])
def test_language_name_of_a_code_for_no_particular_language_says_so(code: str) -> None:
    with pytest.raises(
        ValueError, match=f"unknown language code {code!r}: {code} is a special or private-use"
    ):
        language_name(code)


@pytest.mark.parametrize(
    ("code", "iso"),
    [
        ("tok", "tok"),
        ("English", "eng"),
        ("SPANISH", "spa"),
        ("en_us", "eng"),
        ("fre", "fra"),  # ISO 639-2/B
        ("zh-CN", "zho"),  # the subtag's language: Chinese
        ("zh-HK", "yue"),  # Common Voice's zh-HK is Cantonese: the one locale resolved by table
        ("zh_hk", "yue"),
        ("yue", "yue"),
    ],
)
def test_iso639_3_reads_current_codes_names_and_locales(code: str, iso: str) -> None:
    from components.data.languages import iso639_3

    assert iso639_3(code) == iso


def test_a_retired_code_reads_as_the_code_that_replaced_it() -> None:
    from components.data.languages import iso639_3

    assert iso639_3("mol") == "ron"  # Moldavian, retired into Romanian

"""What good data is: every rule of the manifest suite, each a built-in great-expectations expectation
named and graded (critical: the corpus is wrong as a whole; warning: one row is unusable and is
quarantined) in its ``meta``. :mod:`components.validation.suite` runs them.
"""

from __future__ import annotations

import os
from typing import Any

from components.config import ValidateParams
from components.data.manifest import SPLITS
from components.validation.derived import (
    CHARS_PER_SECOND_COLUMN,
    DUPLICATE_AUDIO_COLUMN,
    DURATION_ERROR_COLUMN,
    SPEAKER_LEAK_COLUMN,
    TRANSCRIPT_LEAK_COLUMN,
)
from components.validation.manifests import UTF8_COLUMN

REQUIRED_COLUMNS = ("id", "audio", "language", "text", "duration_s", "sample_rate", "split")
CRITICAL = "critical"  # the corpus or its splits are wrong: validation fails
WARNING = "warning"  # only this row is unusable: it is quarantined (validate.max_quarantine_share)


def import_gx() -> Any:
    """Import great_expectations lazily (about 2.5 s), with analytics off unless the user chose."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


def rule(kind: str, name: str, severity: str, description: str, **kwargs: Any) -> Any:
    """A built-in expectation ``kind`` (e.g. ``ExpectColumnValuesToBeInSet``) named and graded in ``meta``."""
    import great_expectations.expectations as gxe

    return getattr(gxe, kind)(meta={"rule": name, "severity": severity}, description=description, **kwargs)


def is_true(name: str, column: str, severity: str, description: str) -> Any:
    return rule("ExpectColumnValuesToBeInSet", name, severity, description, column=column, value_set=[True])


def build_expectations(params: ValidateParams) -> list[Any]:
    """Every rule, each with a description that reads well in the data docs and a name and severity in
    ``meta``. Critical: the corpus is wrong as a whole. Warning: one row is unusable and is quarantined."""
    import_gx()
    return [
        *_schema_rules(params),
        *_text_rules(params),
        *_leakage_rules(params),
        *_audio_rules(params),
    ]


def _schema_rules(params: ValidateParams) -> list[Any]:
    rules = [
        rule(
            "ExpectTableRowCountToBeBetween", "rows_present", CRITICAL, "manifests are not empty", min_value=1
        )
    ]
    rules += [
        rule("ExpectColumnToExist", f"{c}_present", CRITICAL, f"column `{c}` is present", column=c)
        for c in REQUIRED_COLUMNS
    ]
    rules += [
        rule("ExpectColumnValuesToNotBeNull", f"{c}_set", CRITICAL, f"`{c}` is set on every row", column=c)
        for c in REQUIRED_COLUMNS
    ]
    return [
        *rules,
        rule("ExpectColumnValuesToBeUnique", "id_unique", CRITICAL, "utterance ids are unique", column="id"),
        rule(
            "ExpectColumnValuesToBeInSet",
            "split_known",
            CRITICAL,
            f"split is one of {', '.join(SPLITS)}",
            column="split",
            value_set=list(SPLITS),
        ),
        rule(
            "ExpectColumnValuesToBeInSet",
            "language_known",
            CRITICAL,
            f"language is one of {', '.join(params.languages)}",
            column="language",
            value_set=list(params.languages),
        ),
    ]


def _text_rules(params: ValidateParams) -> list[Any]:
    low, high = params.min_text_chars, params.max_text_chars
    cps_low, cps_high = params.min_chars_per_second, params.max_chars_per_second
    return [
        rule(
            "ExpectColumnValueLengthsToBeBetween",
            "text_length",
            WARNING,
            f"transcript has {low}-{high} characters",
            column="text",
            min_value=low,
            max_value=high,
        ),
        rule(
            "ExpectColumnValuesToMatchRegex",
            "text_not_blank",
            WARNING,
            "transcript holds a letter or digit",
            column="text",
            regex=r"[^\W_]",  # a letter or digit: not only spaces, punctuation, symbols or invisibles
        ),
        is_true("text_utf8", UTF8_COLUMN, WARNING, "manifest line is valid UTF-8"),
        rule(
            "ExpectColumnValuesToBeBetween",
            "chars_per_second",
            WARNING,
            f"transcript length fits the audio: {cps_low}-{cps_high} characters per second",
            column=CHARS_PER_SECOND_COLUMN,
            min_value=cps_low,
            max_value=cps_high,
        ),
    ]


def _leakage_rules(params: ValidateParams) -> list[Any]:
    checks = {
        "transcript_leak": (params.leakage.transcript, TRANSCRIPT_LEAK_COLUMN, "transcript"),
        "speaker_leak": (params.leakage.speaker, SPEAKER_LEAK_COLUMN, "speaker"),
    }
    return [
        rule(
            "ExpectColumnValuesToBeInSet",
            name,
            CRITICAL,
            f"no dev or test row shares its {what} with a train row",
            column=column,
            value_set=[False],
        )
        for name, (enabled, column, what) in checks.items()
        if enabled
    ]


def _audio_rules(params: ValidateParams) -> list[Any]:
    """Rules over the probe columns: the facts about the audio files themselves, under the audio policy."""
    policy = params.audio
    rate, lo, hi = params.sample_rate, params.min_duration_s, params.max_duration_s
    if policy.resample:
        rates = {"min_value": params.min_sample_rate}
        rate_text = (
            f"audio is sampled at {params.min_sample_rate} Hz or more (resampled to {rate} Hz on load)"
        )
    else:
        rates = {"min_value": rate, "max_value": rate}
        rate_text = f"audio is sampled at {rate} Hz (resampling is off)"
    too_long = CRITICAL if policy.too_long == "reject" else WARNING
    rules = [
        is_true(
            "audio_in_root",
            "audio_in_root",
            CRITICAL,
            "audio path is relative and stays inside the data root",
        ),
        is_true("audio_exists", "audio_exists", CRITICAL, "audio file exists"),
        is_true("audio_decodable", "audio_decodable", WARNING, "audio file decodes with soundfile"),
        rule(
            "ExpectColumnValuesToBeBetween",
            "audio_sample_rate",
            CRITICAL,
            rate_text,
            column="audio_sample_rate",
            **rates,
        ),
        rule(
            "ExpectColumnPairValuesToBeEqual",
            "sample_rate_matches",
            CRITICAL,
            "manifest sample_rate is the audio's true rate",
            column_A="sample_rate",
            column_B="audio_sample_rate",
            ignore_row_if="either_value_is_missing",
        ),
        rule(
            "ExpectColumnValuesToBeBetween",
            "audio_too_short",
            WARNING,
            f"audio lasts at least {lo} s",
            column="audio_duration_s",
            min_value=lo,
        ),
        *(
            # None leaves the limit to the encoder: the validate stage fills it in before it gets here
            []
            if hi is None
            else [
                rule(
                    "ExpectColumnValuesToBeBetween",
                    "audio_too_long",
                    too_long,
                    f"audio lasts at most {hi:g} s (over-long audio: {policy.too_long})",
                    column="audio_duration_s",
                    max_value=hi,
                )
            ]
        ),
        rule(
            "ExpectColumnValuesToBeBetween",
            "audio_silent",
            WARNING,
            f"audio is not silent: peak amplitude at least {params.min_peak}",
            column="audio_peak",
            min_value=params.min_peak,
        ),
        *sound_rules(params),
        rule(
            "ExpectColumnValuesToBeBetween",
            "duration_matches",
            CRITICAL,
            f"manifest duration_s matches the audio within {params.duration_tolerance_s} s",
            column=DURATION_ERROR_COLUMN,
            min_value=0,
            max_value=params.duration_tolerance_s,
        ),
        rule(
            "ExpectColumnValuesToBeNull",
            "audio_unique",
            WARNING,
            "audio content is not a copy of an earlier row's (by sha256)",
            column=DUPLICATE_AUDIO_COLUMN,
        ),
    ]
    if not policy.downmix:
        rules.append(
            rule(
                "ExpectColumnValuesToBeBetween",
                "audio_mono",
                CRITICAL,
                "audio is mono (down-mixing is off)",
                column="audio_channels",
                min_value=1,
                max_value=1,
            )
        )
    return rules


def sound_rules(params: ValidateParams) -> list[Any]:
    """Samples that decode but are not sound: NaN or ±inf, magnitudes no recording has, a clip mostly
    at full scale, one constant non-zero value. Each is the row's own problem (a warning: quarantined)."""
    return [
        rule(
            "ExpectColumnValuesToBeBetween",
            "audio_finite",
            WARNING,
            "every sample is a finite number (no NaN or ±inf)",
            column="audio_non_finite",
            min_value=0,
            max_value=0,
        ),
        rule(
            "ExpectColumnValuesToBeBetween",
            "audio_magnitude",
            WARNING,
            f"peak amplitude at most {params.max_peak:g} (1.0 is full scale)",
            column="audio_peak",
            max_value=params.max_peak,
        ),
        rule(
            "ExpectColumnValuesToBeBetween",
            "audio_clipped",
            WARNING,
            f"at most {params.max_clipped_share:.0%} of samples at full scale",
            column="audio_clipped_share",
            max_value=params.max_clipped_share,
        ),
        rule(
            "ExpectColumnValuesToNotBeInSet",
            "audio_constant",
            WARNING,
            "the signal varies (not one constant value)",
            column="audio_constant",
            value_set=[True],
        ),
    ]

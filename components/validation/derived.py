"""Columns derived from the probed manifest, so built-in expectations can judge relations between rows.

Great expectations compares one column (or a pair) at a time; "this test transcript is also in train"
or "this file's bytes already appeared in an earlier row" are computed here as plain columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from components.data.text import canonical_text, is_blank

if TYPE_CHECKING:
    import pandas as pd

DURATION_ERROR_COLUMN = "duration_error_s"
CHARS_PER_SECOND_COLUMN = "chars_per_second"
DUPLICATE_AUDIO_COLUMN = "audio_duplicate_of"
TRANSCRIPT_LEAK_COLUMN = "transcript_in_train"
SPEAKER_LEAK_COLUMN = "speaker_in_train"
HELD_OUT_SPLITS = ("dev", "test")


def add_derived_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The probed frame plus every derived column of this module."""
    frame = frame.copy()
    frame[DURATION_ERROR_COLUMN] = duration_error(frame)
    frame[CHARS_PER_SECOND_COLUMN] = chars_per_second(frame)
    frame[DUPLICATE_AUDIO_COLUMN] = first_with_same(frame, "audio_sha256")
    frame[TRANSCRIPT_LEAK_COLUMN] = also_in_train(frame, _column(frame, "text").map(normalize_text))
    frame[SPEAKER_LEAK_COLUMN] = also_in_train(frame, _column(frame, "speaker").map(normalize_speaker))
    return frame


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    import pandas as pd

    return frame[name] if name in frame else pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _numbers(frame: pd.DataFrame, name: str) -> pd.Series:
    import pandas as pd

    return pd.to_numeric(_column(frame, name), errors="coerce").astype("float64")


def duration_error(frame: pd.DataFrame) -> pd.Series:
    """|manifest duration − decoded duration|. A manifest duration that is missing or not a number, on a
    file that decodes, gets an infinite gap so it fails instead of being skipped as null."""
    import numpy as np

    claimed, measured = _numbers(frame, "duration_s"), _numbers(frame, "audio_duration_s")
    gap = (claimed - measured).abs()
    return gap.where(~(measured.notna() & gap.isna()), np.inf)


def chars_per_second(frame: pd.DataFrame) -> pd.Series:
    """Transcript characters per second of decoded audio; null where either is unknown or the audio is
    empty (rules on duration and text already name those rows)."""
    measured = _numbers(frame, "audio_duration_s")
    length = _column(frame, "text").map(lambda t: len(t) if isinstance(t, str) else None).astype("float64")
    return (length / measured.where(measured > 0)).astype("float64")


def normalize_text(text: Any) -> str | None:
    """Transcripts compared for leakage: the canonical text (see ``data.text``), case-folded; case,
    spacing, Unicode normalisation and invisible characters do not make a sentence new."""
    if not isinstance(text, str) or is_blank(text):
        return None
    return canonical_text(text).casefold()


def normalize_speaker(speaker: Any) -> str | None:
    return speaker.strip() if isinstance(speaker, str) and speaker.strip() else None


def first_with_same(frame: pd.DataFrame, column: str) -> pd.Series:
    """For each row, the id of the first earlier row with the same value in ``column``, else null.

    Only the later copies are flagged, so quarantining them keeps one copy of the audio.
    """
    import pandas as pd

    first: dict[str, Any] = {}
    ids = _column(frame, "id").tolist()
    values = _column(frame, column).tolist()
    out: list[Any] = []
    for uid, value in zip(ids, values, strict=True):
        if not isinstance(value, str):
            out.append(None)
            continue
        out.append(first.get(value))
        first.setdefault(value, uid if isinstance(uid, str) else "<no id>")
    return pd.Series(out, index=frame.index, dtype=object)


def also_in_train(frame: pd.DataFrame, key: pd.Series) -> pd.Series:
    """True for a dev or test row whose ``key`` (a transcript, a speaker) also occurs in train."""
    split = _column(frame, "split").map(lambda value: value if isinstance(value, str) else None)
    train = set(key[(split == "train") & key.notna()])
    held_out = split.isin(HELD_OUT_SPLITS) & key.notna()
    return (held_out & key.isin(train)).astype(bool)

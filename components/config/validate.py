"""``validate``: the audio policy, duration and rate bounds, languages and leakage checks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from components.config.base import LANGUAGE_CODE, Section


class AudioPolicy(Section):
    """What the loaders may do to audio that is not already what the encoder reads.

    The loaders resample and down-mix on read; a policy that is off makes validation refuse such
    files instead (a critical failure), for corpora whose rate and channels must be exact. An import
    then keeps each file's own rate or channels, so that validation sees them.
    """

    resample: bool = True
    downmix: bool = True
    # reject: an over-long utterance stops the pipeline. split: its transcript cannot be cut without an
    # alignment, so the row is quarantined. The registered model follows the same policy for audio longer
    # than its encoder reads: refused by name, or cut into chunks whose answers are joined.
    too_long: Literal["reject", "split"] = "reject"


class LeakageChecks(Section):
    """Which overlaps with train fail validation: a dev or test row sharing train's transcript or speaker."""

    transcript: bool = True
    speaker: bool = True


class ValidateParams(Section):
    languages: list[LANGUAGE_CODE] = ["eng", "fra", "deu", "spa"]
    sample_rate: int = Field(16000, gt=0)
    min_sample_rate: int = Field(8000, gt=0)
    min_duration_s: float = Field(0.2, ge=0)
    # None: as long as the encoder reads (Whisper's 30 s positional table, the tiny encoder's max_seconds)
    max_duration_s: float | None = Field(None, gt=0)
    min_text_chars: int = Field(1, ge=1)
    max_text_chars: int = Field(400, gt=1)
    min_chars_per_second: float = Field(2.0, ge=0)
    max_chars_per_second: float = Field(35.0, gt=0)
    min_peak: float = Field(0.001, ge=0, le=1)
    max_peak: float = Field(4.0, gt=0)  # float audio past this (12 dB over full scale) is not a recording
    max_clipped_share: float = Field(0.1, ge=0, le=1)
    duration_tolerance_s: float = Field(0.05, ge=0)
    max_quarantine_share: float = Field(0.05, ge=0, le=1)
    audio: AudioPolicy = AudioPolicy()
    leakage: LeakageChecks = LeakageChecks()

    def with_encoder_limit(self, encoder_max_seconds: float) -> ValidateParams:
        """These params with ``max_duration_s`` filled in from the encoder when it is not set."""
        if self.max_duration_s is not None:
            return self
        return self.model_copy(update={"max_duration_s": encoder_max_seconds})

    @model_validator(mode="after")
    def _ranges(self) -> ValidateParams:
        ranges = [
            ("min_sample_rate", "sample_rate"),
            ("min_duration_s", "max_duration_s"),
            ("min_text_chars", "max_text_chars"),
            ("min_chars_per_second", "max_chars_per_second"),
        ]
        for low, high in ranges:
            if getattr(self, high) is not None and getattr(self, low) > getattr(self, high):
                raise ValueError(
                    f"{low} ({getattr(self, low)}) must not exceed {high} ({getattr(self, high)})"
                )
        return self

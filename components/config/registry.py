"""``registry``: where versions are registered, the aliases they are given, and the gates a
challenger passes to become champion."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.config.base import Section


class PromotionGates(Section):
    """What ``speechalign promote`` requires of a challenger against the champion, on one test split.

    Tolerances are absolute, in the metric's own unit (CER as a fraction, chrF in points); a task the
    champion was not scored on is not gated by it.
    """

    max_cer_increase: float = Field(0.0, ge=0)  # ASR CER may rise by at most this
    max_chrf_decrease: float = Field(0.0, ge=0)  # translation chrF may fall by at most this
    require_parity: bool = True  # the ONNX export matched PyTorch
    # the paired per-utterance CER difference (cluster bootstrap over sentences): refuse when its 95%
    # interval lies wholly on the challenger's worse side
    refuse_significantly_worse: bool = True
    bootstrap_seed: int = 0


class ServingLimits(Section):
    """What the registered model accepts in one request (see :mod:`components.registry.requests`).

    Audio arrives as the file's bytes (base64); a path is read only under ``audio_root`` (or the
    ``SPEECHALIGN_AUDIO_ROOT`` of the serving machine), never elsewhere.
    """

    max_rows: int = Field(32, gt=0)
    max_audio_seconds: float = Field(300.0, gt=0)  # per row, decoded
    max_audio_bytes: int = Field(20_000_000, gt=0)  # per row, the encoded file
    audio_root: str | None = None
    # what answers: the PyTorch speech-LLM, or the version's ONNX export on onnxruntime
    runtime: Literal["pytorch", "onnxruntime"] = "pytorch"


class RegistryParams(Section):
    model_name: str = Field("speechalign", min_length=1)
    experiment: str = Field("speechalign", min_length=1)
    stage_timeout_s: int = Field(3600, gt=0)
    challenger_alias: str = "challenger"
    champion_alias: str = "champion"
    promotion: PromotionGates = PromotionGates()
    serving: ServingLimits = ServingLimits()

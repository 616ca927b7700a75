"""Learning-rate multiplier: linear warm-up to the peak, then cosine decay to zero."""

from __future__ import annotations

import math

import pytest

from components.training.schedule import warmup_cosine


def test_warmup_rises_linearly_to_the_peak_at_the_last_warmup_step() -> None:
    values = [warmup_cosine(step, 4, 20) for step in range(4)]
    assert values == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_cosine_decays_monotonically_from_peak_to_zero_and_stays_there() -> None:
    values = [warmup_cosine(step, 4, 20) for step in range(4, 25)]
    assert values[0] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    assert warmup_cosine(20, 4, 20) == pytest.approx(0.0, abs=1e-12)
    assert warmup_cosine(100, 4, 20) == pytest.approx(0.0, abs=1e-12)
    assert warmup_cosine(12, 4, 20) == pytest.approx(0.5)  # half-way through the decay


def test_no_warmup_starts_at_the_peak_and_degenerate_totals_do_not_divide_by_zero() -> None:
    assert warmup_cosine(0, 0, 10) == pytest.approx(1.0)
    assert math.isfinite(warmup_cosine(0, 5, 5)) and math.isfinite(warmup_cosine(7, 5, 5))

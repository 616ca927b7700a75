"""Over-long unlabeled audio is cut into chunks within the limit, without losing a sample."""

from __future__ import annotations

import numpy as np
import pytest

from components.data.audio import split_audio


@pytest.mark.parametrize("samples", [1, 159, 160, 161, 1000, 1601])
def test_split_audio_cuts_into_chunks_within_the_limit_and_drops_nothing(samples: int) -> None:
    wave = np.arange(samples, dtype=np.float32)
    chunks = split_audio(wave, sample_rate=1600, max_seconds=0.1)  # at most 160 samples
    assert all(0 < len(c) <= 160 for c in chunks)
    assert max(len(c) for c in chunks) - min(len(c) for c in chunks) <= 1
    np.testing.assert_array_equal(np.concatenate(chunks), wave)


def test_split_audio_refuses_a_limit_below_one_sample() -> None:
    with pytest.raises(ValueError, match="max_seconds"):
        split_audio(np.zeros(10, dtype=np.float32), 16000, 0.00001)

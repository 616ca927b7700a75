"""Decoded, resampled audio turned into the encoder's log-mel features, one array per utterance."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from components.data.audio import load_audio
from components.data.manifest import Utterance


def utterance_features(
    feature_extractor: Any, utterances: Sequence[Utterance], data_root: Path, progress: bool = True
) -> list[np.ndarray]:
    """(n_mels, T_i) features for each utterance, in manifest order."""
    from tqdm import tqdm

    from components.modeling.speech_llm import extract_features

    rate = feature_extractor.sampling_rate
    return [
        extract_features(feature_extractor, load_audio(Path(data_root) / utt.audio, rate))
        for utt in tqdm(utterances, desc="computing features", disable=not progress)
    ]

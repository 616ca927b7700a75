"""One place that makes a run reproducible: seeds every generator a stage touches."""

from __future__ import annotations

import random


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def keyed_rng(seed: int, *key: str) -> random.Random:
    """A generator that depends only on ``seed`` and ``key`` (e.g. an utterance id).

    String seeds are hashed with SHA-512, not Python's per-process hash, so each utterance draws the
    same way in every run and whatever other rows are in the split.
    """
    return random.Random("\x1f".join([str(seed), *key]))

"""The encoder-state store: each clip's frozen-encoder output in one ``.npy`` file named by its key.

Layout of the store folder (``data/encoded`` in a workspace, a DVC output of the ``encode`` stage)::

    index.json          {"encoder": ENCODER_KEY, "every_layer": bool, "clips": {utterance id: KEY}}
    states/KEY.npy      float32 (T', D) or (L, T', D)

``KEY`` = :func:`~components.modeling.encoder_states.clip_key` of the clip's audio sha256 and the
encoder key, so a refresh computes only clips whose audio or encoder changed, keeps the rest, and
removes states no clip names any more. Every file is written whole (temporary file, then rename), and
the index last: an interrupted refresh leaves a store that the next one completes.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from components.atomic import write_json
from components.cache import sha256_file
from components.modeling.encoder_states import clip_key

INDEX = "index.json"
STATES = "states"


class StaleStates(ValueError):
    """The store does not hold states for these clips under this encoder; the message says what to run."""


@dataclass(frozen=True)
class RefreshSummary:
    """What a refresh did: clips named, states computed, reused and removed, and its wall time (s)."""

    clips: int
    computed: int
    reused: int
    removed: int
    seconds: float


def save_array(path: Path, array: np.ndarray) -> None:
    """``np.save`` into a temporary sibling, then rename: a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def refresh_states(
    store: Path,
    clips: Mapping[str, Path],
    encoder_sha256: str,
    every_layer: bool,
    compute: Callable[[Path], np.ndarray],
    progress: bool = True,
) -> RefreshSummary:
    """Make ``store`` hold exactly the states of ``clips`` (utterance id → audio file).

    ``compute(audio_path)`` gives one clip's states; it runs once per new key (clips with the same
    audio share one file).
    """
    from tqdm import tqdm

    start = time.perf_counter()
    states_dir = Path(store) / STATES
    states_dir.mkdir(parents=True, exist_ok=True)
    keys = {uid: clip_key(sha256_file(Path(path)), encoder_sha256) for uid, path in clips.items()}
    present = {p.stem for p in states_dir.glob("*.npy")}
    todo = {key: clips[uid] for uid, key in keys.items() if key not in present}
    for key, path in tqdm(todo.items(), desc="encoding clips", disable=not progress):
        save_array(states_dir / f"{key}.npy", compute(Path(path)))
    # the index first, then the clean-up: a kill in between leaves extra files, never a missing one
    index = {"encoder": encoder_sha256, "every_layer": every_layer, "clips": dict(sorted(keys.items()))}
    write_json(Path(store) / INDEX, index)
    stale = present - set(keys.values())
    for key in stale:
        (states_dir / f"{key}.npy").unlink()
    for leftover in [*states_dir.glob(".*.tmp"), *Path(store).glob(".*.tmp")]:  # from a killed refresh
        leftover.unlink()
    reused = len(set(keys.values()) - set(todo))
    return RefreshSummary(len(clips), len(todo), reused, len(stale), round(time.perf_counter() - start, 2))


def load_states(store: Path, ids: Sequence[str], encoder_sha256: str) -> dict[str, np.ndarray]:
    """The states of ``ids`` (id → array), checked to be this encoder's.

    Raises:
        StaleStates: no index, another encoder's states, or ids the store does not hold.
    """
    index_path = Path(store) / INDEX
    hint = "run `dvc repro encode` (or the retrain flow) first"
    if not index_path.is_file():
        raise StaleStates(f"{index_path}: no encoder states; {hint}")
    index = json.loads(index_path.read_text(encoding="utf-8"))
    if index["encoder"] != encoder_sha256:
        raise StaleStates(f"{index_path}: the states are another encoder's (or another layer choice); {hint}")
    missing = [uid for uid in ids if uid not in index["clips"]]
    if missing:
        raise StaleStates(f"{index_path}: no states for {len(missing)} clips, e.g. {missing[:5]}; {hint}")
    keys = {uid: index["clips"][uid] for uid in ids}
    loaded = {key: np.load(Path(store) / STATES / f"{key}.npy") for key in set(keys.values())}
    return {uid: loaded[key] for uid, key in keys.items()}

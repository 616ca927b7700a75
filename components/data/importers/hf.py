"""``hf``: a Hugging Face ``datasets`` dataset saved with ``save_to_disk``; nothing is fetched.

A ``DatasetDict`` gives the splits by its keys (``validation`` is dev); a single ``Dataset`` needs a
``split`` column. Columns: ``audio`` (an ``Audio`` feature, ``{bytes, path}``, a path relative to the
dataset folder, or already decoded as ``{array, sampling_rate}``), the transcript (``text_column``, by
default the first of ``text``, ``sentence``, ``raw_transcription``, ``transcription``: the raw, cased
and punctuated one before a normalised one, as the ``fleurs`` importer reads it), and optionally ``id``,
``language``/``locale``, ``translation``, ``speaker``/``client_id``, ``intent``, ``question``,
``answer``. Encoded audio is cast to ``Audio(decode=False)`` and decoded by soundfile like every other
layout, so no torchcodec/FFmpeg is needed; decoded arrays are read as they are.

Where ``id`` repeats within a split (FLEURS numbers sentences, and several people read each), the id
names a sentence: each row's utterance id is then the sentence id and its audio file's name (or its row
number), and the sentence id is kept as ``sentence_id``.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from components.data.importers.base import CorpusError, Importer, RowProblems, SourceRow, audio_file, make_row

TEXT_COLUMNS = ("text", "sentence", "raw_transcription", "transcription")
ALIASES = {
    "language": ("language", "locale"),
    "speaker": ("speaker", "speaker_id", "client_id"),
    "id": ("id",),
    "split": ("split",),
    "translation": ("translation",),
    "intent": ("intent",),
    "question": ("question",),
    "answer": ("answer",),
}


def column_map(columns: list[str], text_column: str | None = None) -> dict[str, str]:
    """Contract field → the dataset's column for it (the first alias present; ``text_column`` if set)."""
    found = {}
    for field, names in {"text": (text_column,) if text_column else TEXT_COLUMNS, **ALIASES}.items():
        for name in names:
            if name in columns:
                found[field] = name
                break
    return found


def cell_opener(dataset, index: int, origin: str, lock: threading.Lock) -> Callable[[], BinaryIO]:
    """Open one row's audio bytes when the converter asks, so the whole dataset is never held in memory."""

    def open_bytes() -> BinaryIO:
        with lock:  # one reader at a time: the converter runs in threads
            stream = io.BytesIO(dataset[index]["audio"]["bytes"])
        stream.name = origin  # what a decoding error names
        return stream

    return open_bytes


def array_opener(dataset, index: int, origin: str, lock: threading.Lock) -> Callable[[], BinaryIO]:
    """Open one row's already decoded samples as a float WAV in memory: read as they are, not re-encoded
    at a lower precision, and decoded by the same reader as every other file."""

    def open_array() -> BinaryIO:
        import numpy as np
        import soundfile as sf

        with lock:
            cell = dataset[index]["audio"]
        samples = np.asarray(cell["array"], dtype=np.float32)
        stream = io.BytesIO()
        sf.write(
            stream,
            samples.T if samples.ndim == 2 else samples,
            int(cell["sampling_rate"]),
            format="WAV",
            subtype="FLOAT",
        )
        stream.seek(0)
        stream.name = origin
        return stream

    return open_array


def is_decoded(feature: Any) -> bool:
    """True when the audio column holds ``{array, sampling_rate}`` itself rather than an Audio feature."""
    return isinstance(feature, dict) and {"array", "sampling_rate"} <= set(feature)


def utterance_ids(ids: list[str | None], audio_names: list[str | None]) -> list[str | None]:
    """Each row's utterance id: its ``id`` where that is unique, else the sentence id and the audio file's
    stem (or the recording's number within its sentence), so several recordings of a sentence stay apart."""
    counts = Counter(uid for uid in ids if uid is not None)
    seen: Counter[str] = Counter()
    derived: list[str | None] = []
    for uid, name in zip(ids, audio_names, strict=True):
        if uid is None or counts[uid] == 1:
            derived.append(uid)
        else:
            seen[uid] += 1
            derived.append(f"{uid}-{Path(name).stem}" if name else f"{uid}-{seen[uid]}")
    return derived


def audio_names(dataset, decoded: bool) -> list[str | None]:
    """The file name each row's audio came from: a ``path`` column, else the Audio cell's own path."""
    if "path" in dataset.column_names:
        return [str(name) if name else None for name in dataset["path"]]
    if decoded:
        return [None] * len(dataset)
    return [(row["audio"] or {}).get("path") for row in dataset.select_columns(["audio"])]


class HFImporter(Importer):
    kind = "hf"
    layout = "a Hugging Face dataset saved with save_to_disk (a DatasetDict of splits, or a split column)"
    text_columns = TEXT_COLUMNS

    def scan(self, source: Path, language: str | None, problems: RowProblems) -> list[SourceRow]:
        from datasets import Audio, DatasetDict, load_from_disk

        try:
            loaded = load_from_disk(str(source))
        except (FileNotFoundError, ValueError) as exc:
            raise CorpusError(f"{source}: not a dataset saved with save_to_disk ({exc})") from None
        parts = list(loaded.items()) if isinstance(loaded, DatasetDict) else [(None, loaded)]
        lock = threading.Lock()
        rows = []
        for part, dataset in parts:
            where = f"{source} [{part}]" if part else str(source)
            columns = column_map(dataset.column_names, self.text_column)
            missing = [] if "audio" in dataset.column_names else ["audio"]
            if "text" not in columns:
                missing.append(self.text_column or "text (or sentence, raw_transcription, transcription)")
            if part is None and "split" not in columns:
                missing.append("split (or save a DatasetDict with train/validation/test)")
            if missing:
                raise CorpusError(
                    f"{where}: missing column(s) {', '.join(missing)}"
                    f" (found: {', '.join(dataset.column_names)})"
                )
            decoded = is_decoded(dataset.features["audio"])
            if not decoded:
                dataset = dataset.cast_column("audio", Audio(decode=False))
            ids = (
                [str(i) if i is not None and str(i).strip() else None for i in dataset[columns["id"]]]
                if "id" in columns
                else [None] * len(dataset)
            )
            repeated = len(set(ids) - {None}) < sum(uid is not None for uid in ids)
            uids = utterance_ids(ids, audio_names(dataset, decoded)) if repeated else ids
            records = dataset.remove_columns("audio") if decoded else dataset
            for index, record in enumerate(records):
                with problems.row(part):
                    origin = f"{where} row {index}"
                    fields = {field: record[column] for field, column in columns.items()}
                    if uids[index] != ids[index]:
                        fields["sentence_id"] = ids[index]
                    fields["id"] = uids[index] or f"{part or fields.get('split')}_{index:06d}"
                    if part is not None:
                        fields["split"] = part
                    if decoded:
                        audio = array_opener(dataset, index, origin, lock)
                    elif record["audio"].get("bytes"):
                        audio = cell_opener(dataset, index, origin, lock)
                    else:
                        audio = audio_file(source, record["audio"].get("path") or "", origin, fields["id"])
                    rows.append(make_row(origin, fields, audio, language))
        return rows

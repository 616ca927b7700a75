"""``hf``: a Hugging Face ``datasets`` dataset saved with ``save_to_disk``; nothing is fetched.

A ``DatasetDict`` gives the splits by its keys (``validation`` is dev); a single ``Dataset`` needs a
``split`` column. Columns: ``audio`` (an ``Audio`` feature, ``{bytes, path}``, or a path relative to
the dataset folder), the transcript in ``text`` (or ``sentence``, ``transcription``), and optionally
``id``, ``language``/``locale``, ``translation``, ``speaker``/``client_id``, ``intent``, ``question``,
``answer``. Audio is cast to ``Audio(decode=False)`` and decoded by soundfile like every other
layout, so no torchcodec/FFmpeg is needed.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from components.data.importers.base import CorpusError, Importer, RowProblems, SourceRow, audio_file, make_row

ALIASES = {
    "text": ("text", "sentence", "transcription", "raw_transcription"),
    "language": ("language", "locale"),
    "speaker": ("speaker", "speaker_id", "client_id"),
    "id": ("id",),
    "split": ("split",),
    "translation": ("translation",),
    "intent": ("intent",),
    "question": ("question",),
    "answer": ("answer",),
}


def column_map(columns: list[str]) -> dict[str, str]:
    """Contract field → the dataset's column for it (the first alias present)."""
    found = {}
    for field, names in ALIASES.items():
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


class HFImporter(Importer):
    kind = "hf"
    layout = "a Hugging Face dataset saved with save_to_disk (a DatasetDict of splits, or a split column)"

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
            columns = column_map(dataset.column_names)
            missing = [] if "audio" in dataset.column_names else ["audio"]
            if "text" not in columns:
                missing.append("text (or sentence, transcription)")
            if part is None and "split" not in columns:
                missing.append("split (or save a DatasetDict with train/validation/test)")
            if missing:
                raise CorpusError(
                    f"{where}: missing column(s) {', '.join(missing)}"
                    f" (found: {', '.join(dataset.column_names)})"
                )
            dataset = dataset.cast_column("audio", Audio(decode=False))
            for index, record in enumerate(dataset):
                with problems.row():
                    origin = f"{where} row {index}"
                    fields = {field: record[column] for field, column in columns.items()}
                    fields.setdefault("id", f"{part or fields.get('split')}_{index:06d}")
                    if part is not None:
                        fields["split"] = part
                    cell = record["audio"]
                    if cell.get("bytes"):
                        audio = cell_opener(dataset, index, origin, lock)
                    else:
                        audio = audio_file(source, cell.get("path") or "", origin)
                    rows.append(make_row(origin, fields, audio, language))
        return rows

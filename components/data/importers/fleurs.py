"""``fleurs``: the google/fleurs layout, one folder per language (``en_us``, ``cmn_hans_cn``, …).

``LANG/{train,dev,test}.tsv`` have no header; their columns are id (of the sentence, shared by its
recordings and across languages), file name, raw transcription, normalised transcription, phonemes,
number of samples, gender. Audio is ``LANG/audio/{split}/FILE``. The transcript is the raw one (cased,
punctuated, as the LLM reads text) unless ``text_column`` is ``transcription``; the id is the file name's
stem, since a sentence id repeats (it is kept as the row's ``sentence_id``).
SOURCE is one LANG folder, or the folder holding several; the language comes from the folder's name.
"""

from __future__ import annotations

import csv
from pathlib import Path

from components.data.importers.base import (
    CorpusError,
    Importer,
    RowProblems,
    SourceRow,
    audio_file,
    make_row,
    matching_folders,
    read_table,
)
from components.data.importers.commonvoice import folder_language
from components.data.manifest import SPLITS

COLUMNS = ["id", "file_name", "raw_transcription", "transcription", "phonemes", "num_samples", "gender"]
REQUIRED = ("id", "file_name", "raw_transcription", "transcription")


def is_language_folder(folder: Path) -> bool:
    return any((folder / f"{split}.tsv").is_file() for split in SPLITS)


def language_folders(source: Path) -> list[Path]:
    missing = "no FLEURS language folder (LANG/{train,dev,test}.tsv, e.g. en_us/train.tsv)"
    return matching_folders(source, is_language_folder, missing)


class FleursImporter(Importer):
    kind = "fleurs"
    layout = "a FLEURS language folder (LANG/{train,dev,test}.tsv + LANG/audio/SPLIT/) or a folder of them"
    text_columns = ("raw_transcription", "transcription")

    def scan(self, source: Path, language: str | None, problems: RowProblems) -> list[SourceRow]:
        if self.text_column not in (None, *self.text_columns):
            choices = " or ".join(self.text_columns)
            raise CorpusError(f"text_column: {self.text_column!r} is not a FLEURS column; choose {choices}")
        rows = []
        for folder in language_folders(source):
            folder_code = folder_language(folder, None)
            for split in SPLITS:
                table = folder / f"{split}.tsv"
                if not table.is_file():
                    continue
                records = read_table(table, "\t", problems, REQUIRED, COLUMNS, quoting=csv.QUOTE_NONE)
                for line, record in records:
                    with problems.row(split):
                        origin = f"{table}:{line}"
                        fields = {
                            "id": Path(record["file_name"]).stem,
                            "text": record[self.text_column]
                            if self.text_column
                            else record["raw_transcription"] or record["transcription"],
                            "sentence_id": record["id"],
                            "language": folder_code,
                            "split": split,
                        }
                        clips = folder / "audio" / split
                        audio = audio_file(clips, record["file_name"], origin, fields["id"])
                        rows.append(make_row(origin, fields, audio, language))
        return rows

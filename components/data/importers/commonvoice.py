"""``commonvoice``: a Common Voice release folder for one locale.

``SOURCE/{train,dev,test}.tsv`` (tab-separated, unquoted; columns ``client_id``, ``path``, ``sentence``,
``locale``, …) and the audio in ``SOURCE/clips/``. The id is the clip's file name without its
extension, the speaker its ``client_id``. Rows without a ``locale`` (older releases) take
``--language``, else the folder's own name, which Common Voice sets to the locale (``en``, ``sv-SE``).
Clips are MP3: they import wherever soundfile's libsndfile decodes MP3 (1.1 and later).
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
    read_table,
)
from components.data.languages import iso639_3
from components.data.manifest import SPLITS

REQUIRED = ("path", "sentence")


def read_cv_table(
    path: Path, problems: RowProblems, required: tuple[str, ...] = REQUIRED
) -> list[tuple[int, dict[str, str]]]:
    """A Common Voice style TSV: tab-separated with a header, never quoted."""
    return read_table(path, "\t", problems, required, quoting=csv.QUOTE_NONE)


def folder_language(source: Path, language: str | None) -> str | None:
    """``language`` if given, else the folder's name if it is a language code, as Common Voice names it."""
    if language is not None:
        return language
    try:
        return iso639_3(source.name)
    except ValueError:
        return None


class CommonVoiceImporter(Importer):
    kind = "commonvoice"
    layout = "a Common Voice locale folder: train.tsv, dev.tsv, test.tsv and clips/"

    def scan(self, source: Path, language: str | None, problems: RowProblems) -> list[SourceRow]:
        tables = [source / f"{split}.tsv" for split in SPLITS if (source / f"{split}.tsv").is_file()]
        if not tables:
            raise CorpusError(
                f"{source}: no train.tsv, dev.tsv or test.tsv; is this a Common Voice locale folder?"
            )
        default = folder_language(source, language)
        rows = []
        for table in tables:
            for line, record in read_cv_table(table, problems):
                with problems.row(table.stem):
                    origin = f"{table}:{line}"
                    fields = {
                        "id": Path(record["path"]).stem,
                        "text": record["sentence"],
                        "language": record.get("locale"),
                        "split": table.stem,
                        "speaker": record.get("client_id"),
                    }
                    audio = audio_file(source / "clips", record["path"], origin, fields["id"])
                    rows.append(make_row(origin, fields, audio, default, relabel=language is not None))
        return rows

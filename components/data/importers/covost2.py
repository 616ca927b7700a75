"""``covost2``: CoVoST 2 speech translation, a TSV beside the Common Voice clips it translates.

``covost_v2.SRC_TGT.tsv`` (tab-separated, unquoted; columns ``path``, ``sentence``, ``translation``,
``client_id``, ``split``) in the Common Voice locale folder, whose ``clips/`` hold the audio. SOURCE is
the TSV, or a folder holding one (``--language`` picks the source language when it holds several).
The file name gives both languages: the speech is SRC and ``translation`` fills ``{TGT: text}``.
CoVoST's extra training rows (split ``train_covost``) belong to ``train``.
"""

from __future__ import annotations

from pathlib import Path

from components.data.importers.base import (
    CorpusError,
    Importer,
    RowProblems,
    SourceRow,
    audio_file,
    language_of,
    make_row,
)
from components.data.importers.commonvoice import read_cv_table

PREFIX = "covost_v2."
REQUIRED = ("path", "sentence", "translation", "split")


def pair_of(table: Path) -> tuple[str, str]:
    """(source, target) ISO 639-3 codes from ``covost_v2.SRC_TGT.tsv``."""
    codes = table.name.removeprefix(PREFIX).removesuffix(".tsv").split("_", 1)
    if not table.name.startswith(PREFIX) or len(codes) != 2:
        raise CorpusError(f"{table}: expected a file named {PREFIX}SRC_TGT.tsv, e.g. {PREFIX}fr_en.tsv")
    return language_of(codes[0], str(table)), language_of(codes[1], str(table))


def covost_table(source: Path, language: str | None) -> Path:
    """The TSV itself, or the one in the folder ``source`` whose source language is ``language``."""
    if source.is_file():
        return source
    tables = sorted(source.glob(f"{PREFIX}*.tsv"))
    if language is not None:
        tables = [table for table in tables if pair_of(table)[0] == language]
    if len(tables) != 1:
        found = ", ".join(table.name for table in tables) or "none"
        raise CorpusError(
            f"{source}: expected one {PREFIX}SRC_TGT.tsv"
            + (f" for language {language}" if language else "; pass --language to pick one")
            + f" (found: {found})"
        )
    return tables[0]


class CoVoST2Importer(Importer):
    kind = "covost2"
    layout = "a CoVoST 2 covost_v2.SRC_TGT.tsv in the Common Voice locale folder, beside its clips/"

    def scan(self, source: Path, language: str | None, problems: RowProblems) -> list[SourceRow]:
        table = covost_table(source, language)
        speech, target = pair_of(table)
        clips = table.parent / "clips"
        if not clips.is_dir():
            raise CorpusError(
                f"{table}: no clips/ folder beside it; put it in the Common Voice locale folder"
            )
        rows = []
        for line, record in read_cv_table(table, problems, REQUIRED):
            with problems.row():
                origin = f"{table}:{line}"
                fields = {
                    "id": Path(record["path"]).stem,
                    "text": record["sentence"],
                    "split": record["split"].removesuffix("_covost"),
                    "translation": {target: record["translation"]} if record["translation"] else None,
                    "speaker": record.get("client_id"),
                }
                audio = audio_file(clips, record["path"], origin, fields["id"])
                rows.append(make_row(origin, fields, audio, speech))
        return rows

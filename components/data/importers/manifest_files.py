"""``jsonl`` and ``csv``: a corpus already described in the manifest contract, in one file.

Fields are the contract's (``id``, ``audio``, ``text``, ``split``, ``language``, and optionally
``translation``, ``speaker``, ``intent``, ``question``, ``answer``); ``audio`` is relative to the file.
``duration_s`` and ``sample_rate`` may be present but are measured again from the audio. In CSV,
``translation`` is a JSON object (``{"fra": "bonjour"}``). An unknown field is an error, so a typo
(``transcript`` for ``text``) is caught instead of importing empty transcripts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
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
from components.data.manifest import Utterance, parse_line, utf8_text

FIELDS = tuple(Utterance.model_fields)
REQUIRED = ("id", "audio", "text", "split")


def contract_rows(
    path: Path, records: Iterable[tuple[int, dict]], language: str | None, problems: RowProblems
) -> list[SourceRow]:
    """The rows of ``records``; every bad one is named, with those ``problems`` already holds."""
    rows = []
    for line, record in records:
        with problems.row():
            origin = f"{path}:{line}"
            if not isinstance(record, dict):
                raise CorpusError(f"{origin}: expected a JSON object, got {type(record).__name__}")
            unknown = sorted(set(record) - set(FIELDS))
            if unknown:
                raise CorpusError(
                    f"{origin}: unknown field(s) {', '.join(unknown)}; manifest fields: {', '.join(FIELDS)}"
                )
            missing = [field for field in REQUIRED if field not in record]
            if missing:
                raise CorpusError(f"{origin}: missing field(s) {', '.join(missing)}")
            audio = audio_file(path.parent, str(record["audio"]), origin)
            rows.append(make_row(origin, record, audio, language))
    problems.check(path)
    return rows


def manifest_file(source: Path, suffix: str) -> Path:
    """The manifest file itself, or the single ``*.{suffix}`` file in the folder ``source``."""
    if source.is_file():
        return source
    candidates = sorted(source.glob(f"*.{suffix}"))
    if len(candidates) != 1:
        raise CorpusError(f"{source}: expected one *.{suffix} manifest file, found {len(candidates)}")
    return candidates[0]


class JsonlImporter(Importer):
    kind = "jsonl"
    layout = "a JSON Lines manifest with the contract's fields; audio paths relative to the file"

    def scan(self, source: Path, language: str | None) -> list[SourceRow]:
        path = manifest_file(source, "jsonl")
        records = []
        problems = RowProblems()
        for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
            with problems.row():
                try:
                    line = utf8_text(raw, path, number)
                    if line.strip():
                        records.append((number, parse_line(path, number, line)))
                except ValueError as exc:
                    raise CorpusError(str(exc)) from None
        return contract_rows(path, records, language, problems)


class CsvImporter(Importer):
    kind = "csv"
    layout = (
        "a CSV manifest with the contract's fields (translation as JSON); audio paths relative to the file"
    )

    def scan(self, source: Path, language: str | None) -> list[SourceRow]:
        path = manifest_file(source, "csv")
        records = []
        problems = RowProblems()
        for line, row in read_table(path, ",", REQUIRED):
            record: dict = dict(row)
            with problems.row():
                if record.get("translation"):
                    try:
                        record["translation"] = json.loads(record["translation"])
                    except json.JSONDecodeError:
                        raise CorpusError(
                            f'{path}:{line}: translation must be a JSON object, e.g. {{"fra": "..."}}'
                        ) from None
                records.append((line, record))
        return contract_rows(path, records, language, problems)

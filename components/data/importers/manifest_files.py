"""``jsonl`` and ``csv``: a corpus already described in the manifest contract, in one file.

Fields are the contract's (``id``, ``audio``, ``text``, ``split``, ``language``, and optionally
``translation``, ``speaker``, ``intent``, ``question``, ``answer``); ``audio`` is relative to the file.
``duration_s`` and ``sample_rate`` may be present but are measured again from the audio. In CSV,
``translation`` is a JSON object (``{"fra": "bonjour"}``). An unknown field is an error, so a typo
(``transcript`` for ``text``) is caught instead of importing empty transcripts.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable
from pathlib import Path

from components.data.importers.base import (
    MALFORMED,
    CorpusError,
    Importer,
    RowDefect,
    RowProblems,
    SourceRow,
    audio_file,
    decode_bytes,
    make_row,
    not_utf8,
    read_table,
    require_utf8,
)
from components.data.manifest import Utterance, parse_line

FIELDS = tuple(Utterance.model_fields)
REQUIRED = ("id", "audio", "text", "split")


def contract_rows(
    path: Path, records: Iterable[tuple[int, dict]], language: str | None, problems: RowProblems
) -> list[SourceRow]:
    """The rows of ``records``; every bad one is named, with those ``problems`` already holds."""
    rows = []
    for line, record in records:
        origin = f"{path}:{line}"
        split = record.get("split") if isinstance(record, dict) else None
        with problems.row(str(split) if split is not None else None):
            if not isinstance(record, dict):
                problem = f"expected a JSON object, got {type(record).__name__}"
                raise RowDefect(origin, MALFORMED, problem)
            uid = str(record["id"]) if record.get("id") is not None else None
            require_utf8(origin, record)
            unknown = sorted(set(record) - set(FIELDS))
            if unknown:
                problem = f"unknown field(s) {', '.join(unknown)}; manifest fields: {', '.join(FIELDS)}"
                raise RowDefect(origin, MALFORMED, problem, uid=uid)
            missing = [field for field in REQUIRED if field not in record]
            if missing:
                problem = f"missing field(s) {', '.join(missing)}"
                raise RowDefect(origin, f"{missing[0]}_set", problem, uid=uid)
            audio = audio_file(path.parent, str(record["audio"]), origin, uid)
            rows.append(make_row(origin, record, audio, language))
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

    def scan(self, source: Path, language: str | None, problems: RowProblems) -> list[SourceRow]:
        path = manifest_file(source, "jsonl")
        records = []
        for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
            with problems.row():
                # invalid UTF-8 is kept as surrogates: the row is rejected by id in contract_rows
                line = decode_bytes(raw.removeprefix(codecs.BOM_UTF8) if number == 1 else raw)
                if line.strip():
                    try:
                        records.append((number, parse_line(path, number, line)))
                    except ValueError as exc:
                        # bytes that are not UTF-8 are the first fault of a line they also broke
                        rule, problem = (
                            ("text_utf8", "not valid UTF-8") if not_utf8(line) else (MALFORMED, "")
                        )
                        problem = "; ".join(filter(None, (problem, str(exc).split(": ", 1)[-1])))
                        raise RowDefect(f"{path}:{number}", rule, problem) from None
        return contract_rows(path, records, language, problems)


class CsvImporter(Importer):
    kind = "csv"
    layout = (
        "a CSV manifest with the contract's fields (translation as JSON); audio paths relative to the file"
    )

    def scan(self, source: Path, language: str | None, problems: RowProblems) -> list[SourceRow]:
        path = manifest_file(source, "csv")
        records = []
        for line, row in read_table(path, ",", problems, REQUIRED):
            record: dict = dict(row)
            with problems.row():
                if record.get("translation"):
                    try:
                        record["translation"] = json.loads(record["translation"])
                    except json.JSONDecodeError:
                        problem = 'translation must be a JSON object, e.g. {"fra": "..."}'
                        raise RowDefect(f"{path}:{line}", MALFORMED, problem, uid=record.get("id")) from None
                records.append((line, record))
        return contract_rows(path, records, language, problems)

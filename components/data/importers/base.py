"""What every importer shares: the row it hands on, the checks it applies, and how it reads tables.

An importer only reads its layout; it does not touch audio. It returns :class:`SourceRow` s whose
language, split and translation keys are already normalised, so every layout is checked the same
way and every error names the file and line (or dataset row) it came from.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, ClassVar

from components.data.languages import iso639_3
from components.data.rejected import RejectedRow
from components.data.text import canonical_text

# Where an utterance's audio is: a file to decode, or a callable that opens its bytes (e.g. a dataset cell).
AudioSource = Path | Callable[[], BinaryIO]

SPLIT_ALIASES = {
    "train": "train",
    "dev": "dev",
    "validation": "dev",
    "valid": "dev",
    "val": "dev",
    "test": "test",
}


class CorpusError(ValueError):
    """A source corpus cannot be imported; the message says where (file:line) and what is wrong."""


class RowDefect(CorpusError):
    """One row cannot be imported; the import leaves it out and validation reports it under ``rule``."""

    def __init__(
        self, origin: str, rule: str, problem: str, uid: str | None = None, audio: Path | None = None
    ) -> None:
        self.rejected = RejectedRow(
            origin=origin, rule=rule, problem=problem, id=readable(uid), audio=str(audio) if audio else None
        )
        super().__init__(self.rejected.describe())


def readable(text: str | None) -> str | None:
    """``text`` with bytes that were not valid UTF-8 (kept as surrogates) shown as U+FFFD."""
    if text is None:
        return None
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")


# An error raised inside a row without a rule of its own: the row is malformed (a wrong field count, an
# unknown field): a fault of how the corpus was written, which validation grades critical.
MALFORMED = "row_readable"


class RowProblems:
    """The rows of a scan or conversion that could not be imported, gathered instead of raised, so one
    run names every bad row at once. Errors of the source as a whole still stop at once."""

    def __init__(self) -> None:
        self.rejected: list[RejectedRow] = []

    @contextlib.contextmanager
    def row(self, split: str | None = None) -> Iterator[None]:
        """Run one row's work; its :class:`CorpusError` rejects the row and the scan goes on."""
        try:
            yield
        except RowDefect as exc:
            self.rejected.append(replace(exc.rejected, split=exc.rejected.split or split))
        except CorpusError as exc:
            self.rejected.append(RejectedRow(origin="", rule=MALFORMED, problem=str(exc), split=split))

    def reject(self, row: SourceRow, rule: str, problem: str) -> None:
        """Leave out a row that was read but cannot be used (a duplicate id, undecodable audio)."""
        audio = str(row.audio) if isinstance(row.audio, Path) else None
        rejected = RejectedRow(row.origin, rule, problem, id=row.id, split=row.split, audio=audio)
        self.rejected.append(rejected)


def read_text(path: Path) -> str:
    """A text file's content, a leading BOM dropped. Bytes that are not valid UTF-8 are kept as
    surrogates (``surrogateescape``), so only the rows holding them are rejected (:func:`make_row`)."""
    return decode_bytes(path.read_bytes().removeprefix(codecs.BOM_UTF8))


def decode_bytes(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def not_utf8(value: object) -> bool:
    """True when ``value`` (a string, or a mapping of them) holds bytes that were not valid UTF-8."""
    if isinstance(value, Mapping):
        return any(not_utf8(k) or not_utf8(v) for k, v in value.items())
    return isinstance(value, str) and any("\udc80" <= char <= "\udcff" for char in value)


def require_utf8(origin: str, fields: Mapping[str, object]) -> None:
    """Reject a row whose fields hold invalid UTF-8, naming its id where the id itself is readable."""
    bad = [name for name, value in fields.items() if not_utf8(value)]
    if bad:
        uid = fields.get("id")
        raise RowDefect(
            origin,
            "text_utf8",
            f"not valid UTF-8 in {', '.join(map(str, bad))}",
            uid=str(uid) if uid is not None else None,
        )


@dataclass(frozen=True)
class SourceRow:
    """One utterance as found in a source corpus, before its audio is converted."""

    id: str
    audio: AudioSource
    text: str
    language: str  # ISO 639-3
    split: str  # train | dev | test
    origin: str  # where the row was read, e.g. ``/corpus/train.tsv:17``
    translation: dict[str, str] | None = None
    speaker: str | None = None
    intent: str | None = None
    question: str | None = None
    answer: str | None = None
    sentence_id: str | None = None  # a recording's sentence where the corpus records several per sentence
    canonicalised: bool = False  # the transcript was changed beyond trimming (see data.text)
    locale: str | None = None  # the row's own language label (en-US, English), where not the code

    def describe_audio(self) -> str:
        return str(self.audio) if isinstance(self.audio, Path) else f"the audio of {self.origin}"


class Importer(ABC):
    """Reads one corpus layout into :class:`SourceRow` s; ``language`` is the default for rows without one.

    ``text_column`` names the transcript's column in layouts that have several (``text_columns``)."""

    kind: ClassVar[str]
    # The layout in one line, for error messages and the CLI's help.
    layout: ClassVar[str]
    # Transcript columns a user may choose from, the default first; empty: the layout has one.
    text_columns: ClassVar[tuple[str, ...]] = ()

    def __init__(self, text_column: str | None = None) -> None:
        if text_column is not None and not self.text_columns:
            raise CorpusError(f"text_column: layout {self.kind} has one transcript; leave it unset")
        self.text_column = text_column

    @abstractmethod
    def scan(self, source: Path, language: str | None, problems: RowProblems) -> list[SourceRow]:
        """Every usable utterance of ``source``, in a stable order, with its audio located but not
        decoded; every row that cannot be used is recorded in ``problems`` instead."""


def language_of(
    code: object, origin: str, default: str | None = None, uid: str | None = None, relabel: bool = False
) -> str:
    """ISO 639-3 of a row's language code, else of ``default`` (also for a code that cannot be read, with
    ``relabel``: the user's ``--language``); the error names the row and the code."""
    if code is None or (isinstance(code, str) and not code.strip()):
        if default is None:
            raise RowDefect(origin, "language_set", "no language given; pass one with --language", uid=uid)
        code = default
    try:
        return iso639_3(str(code))
    except ValueError as exc:
        if relabel and default is not None:  # --language labels what the corpus's column cannot say
            return iso639_3(default)
        problem = f"{exc}; pass --language to label rows whose language cannot be read"
        raise RowDefect(origin, "language_known", problem, uid=uid) from None


def split_of(value: object, origin: str, uid: str | None = None) -> str:
    """``train``/``dev``/``test`` from the names corpora use (``validation`` and ``valid`` are ``dev``)."""
    split = SPLIT_ALIASES.get(str(value).strip().lower()) if value is not None else None
    if split is None:
        problem = f"unknown split {value!r}; expected one of {sorted(SPLIT_ALIASES)}"
        raise RowDefect(origin, "split_known", problem, uid=uid)
    return split


def translation_of(value: object, origin: str, uid: str | None = None) -> dict[str, str] | None:
    """A ``{language: text}`` map with ISO 639-3 keys; the error names the row and the bad key."""
    if value is None or value == "":
        return None
    if not isinstance(value, Mapping):
        problem = f"translation must be a mapping of language code to text, got {value!r}"
        raise RowDefect(origin, MALFORMED, problem, uid=uid)
    return {language_of(code, origin, uid=uid): canonical_text(str(text)) for code, text in value.items()}


def optional_text(value: object) -> str | None:
    """Tables spell "no value" as an empty cell; the manifest leaves the field out."""
    if value is None:
        return None
    text = canonical_text(str(value))
    return text or None


def audio_file(base: Path, name: str, origin: str, uid: str | None = None) -> Path:
    """The audio file ``name`` (absolute, or relative to ``base``); the error names the row and the file.

    A relative path may climb out of ``base`` (the fetched Asterisk manifest points into the unpacked
    packages beside it): the import reads the file the corpus names, as it would an absolute path, and
    its converted copy lies inside the data root, where validation checks every path stays.
    """
    if not name or not str(name).strip():
        raise RowDefect(origin, "audio_set", "no audio path given", uid=uid)
    if not_utf8(name):
        raise RowDefect(origin, "text_utf8", "not valid UTF-8 in the audio path", uid=uid)
    path = base / name
    if not path.is_file():
        raise RowDefect(origin, "audio_exists", f"audio file not found: {path}", uid=uid, audio=path)
    return path


def require_columns(path: Path, found: Sequence[str], required: Sequence[str]) -> None:
    missing = [column for column in required if column not in found]
    if missing:
        raise CorpusError(
            f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(found) or 'none'})"
        )


def read_table(
    path: Path,
    delimiter: str,
    problems: RowProblems,
    required: Sequence[str] = (),
    fieldnames: list[str] | None = None,
    quoting: int = csv.QUOTE_MINIMAL,
) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV/TSV file; the header is its first line unless ``fieldnames`` are given.

    A row with too few or too many fields is rejected into ``problems`` naming its line, not a silent
    shift of columns.
    Corpus TSVs are written unquoted (a transcript may hold a lone ``"``): read them with ``QUOTE_NONE``.
    """
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=delimiter, quoting=quoting)
    header = fieldnames
    if header is None:
        header = [name.strip() for name in next(reader, [])]
    require_columns(path, header, required)
    # A headerless table may grow columns at its end; the ones we read must be there.
    needed = len(header) if fieldnames is None else 1 + max(map(header.index, required), default=0)
    rows = []
    for fields in reader:
        if not any(field.strip() for field in fields):
            continue
        with problems.row():
            if len(fields) < needed or (fieldnames is None and len(fields) != len(header)):
                problem = f"expected {len(header)} fields, got {len(fields)}"
                if any(map(not_utf8, fields)):  # the bad bytes came first (they may have eaten a delimiter)
                    raise RowDefect(f"{path}:{reader.line_num}", "text_utf8", f"not valid UTF-8; {problem}")
                raise RowDefect(f"{path}:{reader.line_num}", MALFORMED, problem)
            rows.append((reader.line_num, dict(zip(header, fields, strict=False))))
    return rows


def make_row(
    origin: str,
    fields: Mapping[str, object],
    audio: AudioSource,
    default_language: str | None,
    relabel: bool | None = None,
) -> SourceRow:
    """A :class:`SourceRow` from contract-named ``fields`` (id, text, language, split, optional extras).

    ``default_language`` labels rows without a language; with ``relabel`` (by default, whenever there is
    a default) it also labels rows whose own label cannot be read. A layout whose default is a guess (a
    folder's name) passes ``relabel`` only when the user gave ``--language``.

    Every layout ends here, so ids, transcripts, languages, splits and translations are checked alike.
    """
    require_utf8(origin, fields)
    uid = optional_text(fields.get("id"))
    if uid is None:
        raise RowDefect(origin, "id_set", "no id given")
    text = fields.get("text")
    if text is None:
        raise RowDefect(origin, "text_set", "no transcript given", uid=uid)
    relabel = default_language is not None if relabel is None else relabel
    language = language_of(fields.get("language"), origin, default_language, uid, relabel)
    label = optional_text(fields.get("language"))
    return SourceRow(
        id=uid,
        audio=audio,
        text=canonical_text(str(text)),
        canonicalised=canonical_text(str(text)) != str(text).strip(),
        language=language,
        locale=label if label not in (None, language) else None,
        split=split_of(fields.get("split"), origin, uid),
        origin=origin,
        translation=translation_of(fields.get("translation"), origin, uid),
        speaker=optional_text(fields.get("speaker")),
        intent=optional_text(fields.get("intent")),
        question=optional_text(fields.get("question")),
        answer=optional_text(fields.get("answer")),
        sentence_id=optional_text(fields.get("sentence_id")),
    )


def matching_folders(source: Path, matches: Callable[[Path], object], missing: str) -> list[Path]:
    """``source`` itself when it matches, else the matching folders inside it; none is an error."""
    if matches(source):
        return [source]
    found = sorted(child for child in source.iterdir() if child.is_dir() and matches(child))
    if not found:
        raise CorpusError(f"{source}: {missing}")
    return found

"""What every importer shares: the row it hands on, the checks it applies, and how it reads tables.

An importer only reads its layout; it does not touch audio. It returns :class:`SourceRow` s whose
language, split and translation keys are already normalised, so every layout is checked the same
way and every error names the file and line (or dataset row) it came from.
"""

from __future__ import annotations

import contextlib
import csv
import io
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar

from components.data.languages import iso639_3
from components.data.manifest import utf8_text
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


MAX_LISTED = 50  # bad rows named in one error; the rest are counted


class RowProblems:
    """Row errors gathered over a whole scan or conversion, so a failed import names every bad row at
    once instead of one per attempt. Errors that concern the source as a whole still stop at once."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    @contextlib.contextmanager
    def row(self) -> Iterator[None]:
        """Run one row's work; its :class:`CorpusError` is recorded and the scan goes on."""
        try:
            yield
        except CorpusError as exc:
            self.messages.append(str(exc))

    def check(self, source: object) -> None:
        """Raise one :class:`CorpusError` naming every recorded row error, if there is any."""
        if not self.messages:
            return
        if len(self.messages) == 1:  # already names its file and line: one line, as for any other error
            raise CorpusError(self.messages[0])
        listed = self.messages[:MAX_LISTED]
        more = len(self.messages) - len(listed)
        lines = "\n  ".join(listed) + (f"\n  ... and {more} more" if more else "")
        raise CorpusError(f"{source}: {len(self.messages)} bad row(s), nothing imported:\n  {lines}")


def read_utf8(path: Path) -> str:
    """A text file's content; invalid UTF-8 is an error naming the file, line and byte."""
    try:
        return utf8_text(path.read_bytes(), path)
    except ValueError as exc:
        raise CorpusError(str(exc)) from None


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
    canonicalised: bool = False  # the transcript was changed beyond trimming (see data.text)
    locale: str | None = None  # the row's own language label (en-US, English), where not the code

    def describe_audio(self) -> str:
        return str(self.audio) if isinstance(self.audio, Path) else f"the audio of {self.origin}"


class Importer(ABC):
    """Reads one corpus layout into :class:`SourceRow` s; ``language`` is the default for rows without one."""

    kind: ClassVar[str]
    # The layout in one line, for error messages and the CLI's help.
    layout: ClassVar[str]

    @abstractmethod
    def scan(self, source: Path, language: str | None) -> list[SourceRow]:
        """Every utterance of ``source``, in a stable order, with its audio located but not decoded."""


def language_of(code: object, origin: str, default: str | None = None) -> str:
    """ISO 639-3 of a row's language code, else of ``default``; the error names the row and the code."""
    if code is None or (isinstance(code, str) and not code.strip()):
        if default is None:
            raise CorpusError(
                f"{origin}: no language given; pass one with --language (prepare.corpus.language)"
            )
        code = default
    try:
        return iso639_3(str(code))
    except ValueError as exc:
        raise CorpusError(f"{origin}: {exc}") from None


def split_of(value: object, origin: str) -> str:
    """``train``/``dev``/``test`` from the names corpora use (``validation`` and ``valid`` are ``dev``)."""
    split = SPLIT_ALIASES.get(str(value).strip().lower()) if value is not None else None
    if split is None:
        raise CorpusError(f"{origin}: unknown split {value!r}; expected one of {sorted(SPLIT_ALIASES)}")
    return split


def translation_of(value: object, origin: str) -> dict[str, str] | None:
    """A ``{language: text}`` map with ISO 639-3 keys; the error names the row and the bad key."""
    if value is None or value == "":
        return None
    if not isinstance(value, Mapping):
        raise CorpusError(f"{origin}: translation must be a mapping of language code to text, got {value!r}")
    return {language_of(code, origin): canonical_text(str(text)) for code, text in value.items()}


def optional_text(value: object) -> str | None:
    """Tables spell "no value" as an empty cell; the manifest leaves the field out."""
    if value is None:
        return None
    text = canonical_text(str(value))
    return text or None


def audio_file(base: Path, name: str, origin: str) -> Path:
    """The audio file ``name`` (absolute, or relative to ``base``); the error names the row and the file."""
    if not name or not str(name).strip():
        raise CorpusError(f"{origin}: no audio path given")
    path = base / name
    if not path.is_file():
        raise CorpusError(f"{origin}: audio file not found: {path}")
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
    required: Sequence[str] = (),
    fieldnames: list[str] | None = None,
    quoting: int = csv.QUOTE_MINIMAL,
) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV/TSV file; the header is its first line unless ``fieldnames`` are given.

    A row with too few or too many fields is an error naming its line, not a silent shift of columns.
    Corpus TSVs are written unquoted (a transcript may hold a lone ``"``): read them with ``QUOTE_NONE``.
    """
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    reader = csv.reader(io.StringIO(read_utf8(path), newline=""), delimiter=delimiter, quoting=quoting)
    header = fieldnames
    if header is None:
        header = [name.strip() for name in next(reader, [])]
    require_columns(path, header, required)
    # A headerless table may grow columns at its end; the ones we read must be there.
    needed = len(header) if fieldnames is None else 1 + max(map(header.index, required), default=0)
    rows = []
    problems = RowProblems()
    for fields in reader:
        if not any(field.strip() for field in fields):
            continue
        with problems.row():
            if len(fields) < needed or (fieldnames is None and len(fields) != len(header)):
                raise CorpusError(
                    f"{path}:{reader.line_num}: expected {len(header)} fields, got {len(fields)}"
                )
            rows.append((reader.line_num, dict(zip(header, fields, strict=False))))
    problems.check(path)
    return rows


def make_row(
    origin: str, fields: Mapping[str, object], audio: AudioSource, default_language: str | None
) -> SourceRow:
    """A :class:`SourceRow` from contract-named ``fields`` (id, text, language, split, optional extras).

    Every layout ends here, so ids, transcripts, languages, splits and translations are checked alike.
    """
    uid = optional_text(fields.get("id"))
    if uid is None:
        raise CorpusError(f"{origin}: no id given")
    text = fields.get("text")
    if text is None:
        raise CorpusError(f"{origin} (id {uid}): no transcript given")
    language = language_of(fields.get("language"), origin, default_language)
    label = optional_text(fields.get("language"))
    return SourceRow(
        id=uid,
        audio=audio,
        text=canonical_text(str(text)),
        canonicalised=canonical_text(str(text)) != str(text).strip(),
        language=language,
        locale=label if label not in (None, language) else None,
        split=split_of(fields.get("split"), origin),
        origin=origin,
        translation=translation_of(fields.get("translation"), origin),
        speaker=optional_text(fields.get("speaker")),
        intent=optional_text(fields.get("intent")),
        question=optional_text(fields.get("question")),
        answer=optional_text(fields.get("answer")),
    )


def matching_folders(source: Path, matches: Callable[[Path], object], missing: str) -> list[Path]:
    """``source`` itself when it matches, else the matching folders inside it; none is an error."""
    if matches(source):
        return [source]
    found = sorted(child for child in source.iterdir() if child.is_dir() and matches(child))
    if not found:
        raise CorpusError(f"{source}: {missing}")
    return found

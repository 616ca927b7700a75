"""The manifest data contract: one JSON object per utterance, one file per split.

Rows are plain dicts on disk (JSON Lines); :class:`Utterance` is the typed view used in code.
"""

from __future__ import annotations

import codecs
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SPLITS = ("train", "dev", "test")
MANIFEST_DIR = Path("data/manifests")
DATA_ROOT = Path("data")


class Utterance(BaseModel):
    """One manifest row; ``audio`` is relative to the data root."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    audio: str = Field(min_length=1)
    language: str
    text: str
    duration_s: float
    sample_rate: int
    split: str
    translation: dict[str, str] | None = None
    intent: str | None = None
    question: str | None = None
    answer: str | None = None
    speaker: str | None = None
    locale: str | None = None  # the corpus's own language label, where it is not ``language`` itself
    sentence_id: str | None = None  # the sentence a recording reads, where a corpus has several per sentence


@dataclass(frozen=True)
class TaskLabel:
    """One labelled task a manifest row supports, and its reference answer.

    Training targets and zero-shot queries both enumerate these, so the two never disagree on which
    tasks an utterance has or how an instruction names the target language or asks the question.
    """

    task: str  # asr | st | intent | qa
    language: str  # the utterance's language
    reference: str
    target_language: str | None = None  # st only
    question: str | None = None  # qa only

    @property
    def group(self) -> str:
        """Where results are reported: the language, or source-target pair for translation."""
        return f"{self.language}-{self.target_language}" if self.task == "st" else self.language

    @property
    def reference_language(self) -> str:
        """The language the reference answer is written in: the target language for translation."""
        return self.target_language or self.language if self.task == "st" else self.language

    def instruction(self, wording: str) -> str:
        """The wording with ``{language}`` (st) or ``{question}`` (qa) filled in; others are verbatim."""
        from components.data.languages import language_name

        if self.task == "st":
            return wording.format(language=language_name(self.target_language or ""))
        if self.task == "qa":
            return wording.format(question=self.question)
        return wording


def task_labels(utt: Utterance) -> list[TaskLabel]:
    """ASR always; translation per target language (sorted); intent and QA where the row has them."""
    labels = [TaskLabel("asr", utt.language, utt.text)]
    for target_language, translation in sorted((utt.translation or {}).items()):
        labels.append(TaskLabel("st", utt.language, translation, target_language=target_language))
    if utt.intent:
        labels.append(TaskLabel("intent", utt.language, utt.intent))
    if utt.question and utt.answer:
        labels.append(TaskLabel("qa", utt.language, utt.answer, question=utt.question))
    return labels


def manifest_path(split: str, manifest_dir: Path = MANIFEST_DIR) -> Path:
    return Path(manifest_dir) / f"{split}.jsonl"


def parse_line(path: Path, number: int, line: str) -> Any:
    """One JSON Lines value; a bad line raises naming the file and line number."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from None


def utf8_text(data: bytes, path: Path, first_line: int = 1) -> str:
    """``data`` (a file, or its line ``first_line`` onwards) decoded, a leading BOM dropped; invalid
    UTF-8 raises naming the file, the line and the byte within that line."""
    if first_line == 1:
        data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ValueError(
            f"{path}:{line}: not valid UTF-8 ({exc.reason} at byte {column} of the line)"
        ) from None


def iter_rows(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, value) for each non-blank line; a bad line raises naming the file and line number."""
    path = Path(path)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = utf8_text(raw, path, number)
            if line.strip():
                yield number, parse_line(path, number, line)


def read_rows(path: str | Path) -> list[dict]:
    """Read a JSON Lines file as dicts; a bad line raises naming the file and line number."""
    return [row for _, row in iter_rows(path)]


def read_manifest(split: str, manifest_dir: Path = MANIFEST_DIR) -> list[Utterance]:
    path = manifest_path(split, manifest_dir)
    utterances = []
    for number, row in iter_rows(path):
        try:
            utterances.append(Utterance.model_validate(row))
        except ValueError as exc:
            raise ValueError(f"{path}:{number} (id {row.get('id')!r}): {exc}") from None
    return utterances


def write_rows(path: str | Path, rows: Iterable[dict | BaseModel]) -> None:
    """Write JSON Lines atomically, so a crash never leaves a half-written file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for row in rows:
                data = row.model_dump(exclude_none=True) if isinstance(row, BaseModel) else row
                handle.write(json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def iter_all(manifest_dir: Path = MANIFEST_DIR) -> Iterator[Utterance]:
    for split in SPLITS:
        yield from read_manifest(split, manifest_dir)

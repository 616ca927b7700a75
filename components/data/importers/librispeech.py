"""``librispeech``: a LibriSpeech subset folder, or the folder holding several subsets.

``SUBSET/SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt`` lists ``UTTERANCE-ID TRANSCRIPT`` per line, beside
``UTTERANCE-ID.flac``. The split is the subset's name up to its first dash (``train-clean-100`` →
train, ``dev-other`` → dev, ``test-clean`` → test), the speaker is the first part of the id, and the
language is English unless ``--language`` says otherwise.
"""

from __future__ import annotations

from pathlib import Path

from components.data.importers.base import (
    MALFORMED,
    CorpusError,
    Importer,
    RowDefect,
    RowProblems,
    SourceRow,
    audio_file,
    make_row,
    matching_folders,
    read_text,
)
from components.data.manifest import SPLITS


def subset_split(folder: Path) -> str | None:
    prefix = folder.name.split("-", 1)[0].lower()
    return prefix if prefix in SPLITS else None


def subsets(source: Path) -> list[Path]:
    """``source`` itself when it is a subset, else the subset folders inside it."""
    missing = "no LibriSpeech subset folder (named train-*, dev-* or test-*, e.g. train-clean-100)"
    return matching_folders(source, subset_split, missing)


class LibriSpeechImporter(Importer):
    kind = "librispeech"
    layout = "a LibriSpeech subset folder (e.g. train-clean-100) or a folder of subsets"

    def scan(self, source: Path, language: str | None, problems: RowProblems) -> list[SourceRow]:
        rows = []
        for subset in subsets(source):
            transcripts = sorted(subset.glob("*/*/*.trans.txt"))
            if not transcripts:
                raise CorpusError(f"{subset}: no SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt files")
            for transcript in transcripts:
                lines = read_text(transcript).splitlines()
                for number, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    with problems.row(subset_split(subset)):
                        origin = f"{transcript}:{number}"
                        uid, _, text = line.strip().partition(" ")
                        if not text:
                            problem = f"expected 'UTTERANCE-ID TRANSCRIPT', got {line.strip()!r}"
                            raise RowDefect(origin, MALFORMED, problem, uid=uid)
                        fields = {
                            "id": uid,
                            "text": text,
                            "split": subset_split(subset),
                            "speaker": uid.split("-")[0],
                        }
                        audio = audio_file(transcript.parent, f"{uid}.flac", origin, uid)
                        rows.append(make_row(origin, fields, audio, language or "eng"))
        return rows

"""Imported audio becomes 16-bit mono WAV at the pipeline's sample rate, beside atomic manifests.

With ``validate.audio.resample`` or ``downmix`` off, the rate or the channels are kept as the source has
them instead, so validation refuses a file that is not already what the encoder reads.

Converting (rather than copying the originals) keeps everything downstream uniform: the validation
probe, feature extraction and export see one format and one rate whatever the corpus shipped (MP3,
FLAC, 48 kHz, stereo), and resampling happens once here instead of at every training step. Audio
and manifests are built in temporary folders and moved into place only when every row converted,
so a failed import leaves the previous corpus exactly as it was; it names every row that failed.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from components.atomic import atomic_directory
from components.config import AudioPolicy
from components.data.audio import AudioError, conform_audio, decode_audio
from components.data.importers.base import CorpusError, RowProblems, SourceRow
from components.data.manifest import SPLITS, Utterance, manifest_path, write_rows

AUDIO_DIR = "audio"  # under the data root, as the manifest's audio paths say
MANIFEST_DIR = "manifests"
CONVERT_ALL = AudioPolicy()  # resample and down-mix: every clip becomes what the encoder reads


def file_name(uid: str) -> str:
    """A file name for an utterance id: ids may hold characters a path cannot."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", uid) + ".wav"


def undecodable(row: SourceRow, problem: object) -> CorpusError:
    """The error for audio soundfile cannot read: which row and file, and which formats it does read."""
    import soundfile as sf

    formats = ", ".join(sorted(sf.available_formats()))
    return CorpusError(
        f"{row.origin} (id {row.id}): {problem}; soundfile here reads {formats}:"
        " convert the audio to one of them (e.g. WAV or FLAC)"
    )


def open_audio(row: SourceRow) -> Path | BinaryIO:
    return row.audio if isinstance(row.audio, Path) else row.audio()


def convert(row: SourceRow, out: Path, sample_rate: int, policy: AudioPolicy) -> tuple[int, int]:
    """Decode ``row``'s audio and write it as 16-bit WAV, down-mixed and at ``sample_rate`` where
    ``policy`` allows (otherwise as the source has it, for validation to judge); (frames, rate)."""
    import numpy as np
    import soundfile as sf

    try:
        data, rate = decode_audio(open_audio(row))
    except AudioError as exc:
        raise undecodable(row, exc) from None
    data, rate = conform_audio(data, rate, sample_rate, policy.resample, policy.downmix)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, np.clip(data, -1.0, 1.0), rate, subtype="PCM_16")
    return len(data), rate


def write_corpus(
    rows: list[SourceRow],
    data_root: Path,
    corpus: str,
    sample_rate: int,
    progress: bool = True,
    policy: AudioPolicy = CONVERT_ALL,
) -> list[Utterance]:
    """Convert every row's audio into ``data_root/audio/CORPUS/SPLIT/`` and write the split manifests.

    ``data_root/audio`` and ``data_root/manifests`` are replaced whole, or not at all.
    """
    from tqdm import tqdm

    names: dict[str, Path] = {}
    owner: dict[Path, SourceRow] = {}
    problems = RowProblems()
    for row in rows:
        name = names[row.id] = Path(AUDIO_DIR) / corpus / row.split / file_name(row.id)
        with problems.row():
            if name in owner:
                raise CorpusError(
                    f"{row.origin}: id {row.id!r} and id {owner[name].id!r} ({owner[name].origin}) would"
                    f" share the audio file {name}; make the ids differ in letters, digits, '.', '_' or '-'"
                )
            owner[name] = row
    problems.check(corpus)
    data_root = Path(data_root)
    with (
        atomic_directory(data_root / AUDIO_DIR) as audio_tmp,
        atomic_directory(data_root / MANIFEST_DIR) as manifest_tmp,
    ):

        def run(row: SourceRow) -> Utterance:
            frames, rate = convert(row, audio_tmp / names[row.id].relative_to(AUDIO_DIR), sample_rate, policy)
            return Utterance(
                id=row.id,
                audio=names[row.id].as_posix(),
                language=row.language,
                text=row.text,
                duration_s=round(frames / rate, 4),
                sample_rate=rate,
                split=row.split,
                translation=row.translation,
                intent=row.intent,
                question=row.question,
                answer=row.answer,
                speaker=row.speaker,
                locale=row.locale,
            )

        def attempt(row: SourceRow) -> Utterance | str:
            try:
                return run(row)
            except CorpusError as exc:
                return str(exc)
            except (OSError, RuntimeError, ValueError) as exc:  # writing, resampling: still name the row
                return f"{row.origin} (id {row.id}): {type(exc).__name__}: {exc}"

        pool = ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1)))
        try:
            converting = pool.map(attempt, rows)
            progress_bar = tqdm(converting, total=len(rows), desc=f"importing {corpus}", disable=not progress)
            results = list(progress_bar)
        finally:
            pool.shutdown(cancel_futures=True)  # an interrupt does not wait for the queued conversions
        problems.messages = [r for r in results if isinstance(r, str)]  # in row order, every bad row
        problems.check(corpus)  # leaving the atomic folders by an error keeps the previous corpus
        utterances = [r for r in results if isinstance(r, Utterance)]
        for split in SPLITS:
            write_rows(manifest_path(split, manifest_tmp), [u for u in utterances if u.split == split])
    return utterances

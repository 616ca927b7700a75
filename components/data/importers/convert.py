"""Imported audio becomes 16-bit mono WAV at the pipeline's sample rate, beside atomic manifests.

With ``validate.audio.resample`` or ``downmix`` off, the rate or the channels are kept as the source has
them instead, so validation refuses a file that is not already what the encoder reads.

Converting (rather than copying the originals) keeps everything downstream uniform: the validation
probe, feature extraction and export see one format and one rate whatever the corpus shipped (MP3,
FLAC, 48 kHz, stereo), and resampling happens once here instead of at every training step. Audio
and manifests are built in temporary folders and moved into place only when every row converted,
so an interrupted import leaves the previous corpus exactly as it was. A row whose audio cannot be
converted is left out and recorded with the rows the scan rejected, for validation to report.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from components.atomic import atomic_directory
from components.config import AudioPolicy
from components.data.audio import AudioError, NonFiniteAudio, conform_audio, decode_audio
from components.data.importers.base import RowDefect, RowProblems, SourceRow
from components.data.manifest import SPLITS, Utterance, manifest_path, write_rows
from components.data.rejected import REJECTED_FILE, RejectedRow, write_rejected

AUDIO_DIR = "audio"  # under the data root, as the manifest's audio paths say
MANIFEST_DIR = "manifests"
CONVERT_ALL = AudioPolicy()  # resample and down-mix: every clip becomes what the encoder reads


def file_name(uid: str) -> str:
    """A file name for an utterance id: ids may hold characters a path cannot."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", uid) + ".wav"


def undecodable_problem(error: AudioError) -> str:
    """What is wrong with audio that cannot be used, and, when soundfile cannot read it, what it reads."""
    if isinstance(error, NonFiniteAudio):
        return str(error)
    import soundfile as sf

    formats = ", ".join(sorted(sf.available_formats()))
    return f"{error}; soundfile here reads {formats}: convert the audio to one of them (e.g. WAV or FLAC)"


def audio_rule(error: AudioError) -> str:
    """The validation rule that unusable audio fails: not finite, or not decodable at all."""
    return "audio_finite" if isinstance(error, NonFiniteAudio) else "audio_decodable"


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
        raise RowDefect(row.origin, audio_rule(exc), undecodable_problem(exc), uid=row.id) from None
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
    rejected: list[RejectedRow] | None = None,
) -> tuple[list[Utterance], list[RejectedRow]]:
    """Convert every row's audio into ``data_root/audio/CORPUS/SPLIT/`` and write the split manifests,
    and beside them every rejected row (``rejected`` from the scan, plus each row whose audio cannot
    be converted); the imported utterances and all the rejected rows.

    ``data_root/audio`` and ``data_root/manifests`` are replaced whole, or not at all.
    """
    from tqdm import tqdm

    problems = RowProblems()
    problems.rejected = list(rejected or [])
    names: dict[str, Path] = {}
    owner: dict[Path, SourceRow] = {}
    unique = []
    for row in rows:
        name = Path(AUDIO_DIR) / corpus / row.split / file_name(row.id)
        if name in owner:
            problems.reject(
                row,
                "audio_file_name",
                f"id {row.id!r} and id {owner[name].id!r} ({owner[name].origin}) would share the audio file"
                f" {name}; make the ids differ in letters, digits, '.', '_' or '-'",
            )
            continue
        owner[name], names[row.id] = row, name
        unique.append(row)
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
                sentence_id=row.sentence_id,
            )

        def attempt(row: SourceRow) -> Utterance | RowDefect:
            try:
                return run(row)
            except RowDefect as exc:
                return exc
            except (OSError, RuntimeError, ValueError) as exc:  # writing, resampling: still name the row
                return RowDefect(row.origin, "audio_decodable", f"{type(exc).__name__}: {exc}", uid=row.id)

        pool = ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1)))
        try:
            converting = pool.map(attempt, unique)
            progress_bar = tqdm(
                converting, total=len(unique), desc=f"importing {corpus}", disable=not progress
            )
            results = list(progress_bar)
        finally:
            pool.shutdown(cancel_futures=True)  # an interrupt does not wait for the queued conversions
        for row, result in zip(unique, results, strict=True):
            if isinstance(result, RowDefect):  # in row order, after what the scan rejected
                problems.reject(row, result.rejected.rule, result.rejected.problem)
        utterances = [r for r in results if isinstance(r, Utterance)]
        for split in SPLITS:
            write_rows(manifest_path(split, manifest_tmp), [u for u in utterances if u.split == split])
        write_rejected(manifest_tmp / REJECTED_FILE, problems.rejected)
    return utterances, problems.rejected

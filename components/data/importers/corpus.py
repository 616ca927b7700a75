"""The two ways in: ``scan_corpus`` reads and checks a source, ``import_corpus`` makes it the pipeline's data.

``prepare`` calls :func:`import_corpus` when ``prepare.corpus.kind`` is not ``demo``; the CLI calls
:func:`scan_corpus` and :func:`probe_durations` to check a source before naming it in params.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from components.config import AudioPolicy, CorpusParams
from components.data.audio import AudioError, decode_audio
from components.data.importers.base import CorpusError, RowProblems, SourceRow
from components.data.importers.convert import (
    CONVERT_ALL,
    audio_rule,
    open_audio,
    undecodable_problem,
    write_corpus,
)
from components.data.importers.registry import get_importer
from components.data.languages import iso639_3
from components.data.manifest import DATA_ROOT, Utterance
from components.data.rejected import RejectedRow


@dataclass(frozen=True)
class CorpusScan:
    """What a scan found: the usable rows, and every row left out with the rule it fails."""

    rows: list[SourceRow]
    rejected: list[RejectedRow] = field(default_factory=list)


def scan_corpus(
    kind: str, source: str | Path, language: str | None = None, text_column: str | None = None
) -> CorpusScan:
    """The rows of ``source`` read as layout ``kind``; with ``language``, only the rows in that language.

    ``language`` is also the language of rows whose layout records none. A row that cannot be used (a
    missing file, an unknown language, a repeated id, …) is rejected, not fatal; a source with no row
    at all, or none in ``language``, raises :class:`CorpusError`.
    """
    importer = get_importer(kind, text_column)
    source = Path(source).absolute()  # errors name a findable file; folder names (e.g. a locale) are kept
    if not source.exists():
        raise CorpusError(f"{source}: no such file or folder")
    try:
        wanted = iso639_3(language) if language else None
    except ValueError as exc:
        raise CorpusError(f"language: {exc}") from None
    problems = RowProblems()
    rows = importer.scan(source, wanted, problems)
    kept = [row for row in rows if wanted is None or row.language == wanted]
    if not kept and not problems.rejected:
        if rows:
            found = ", ".join(sorted({row.language for row in rows}))
            raise CorpusError(f"{source}: no utterances in language {wanted} (found: {found})")
        raise CorpusError(f"{source}: no utterances found; expected {importer.layout}")
    first: dict[str, SourceRow] = {}
    unique = []
    for row in kept:
        if row.id in first:
            problems.reject(row, "id_unique", f"duplicate id {row.id!r} (first at {first[row.id].origin})")
            continue
        first[row.id] = row
        unique.append(row)
    return CorpusScan(unique, problems.rejected)


def probe_durations(scan: CorpusScan, progress: bool = True) -> tuple[list[float], list[RejectedRow]]:
    """Seconds of each usable row's audio, measured by decoding it (a container header can disagree
    with its samples), and the rows whose audio cannot be decoded, rejected as the import will."""
    from tqdm import tqdm

    seconds = []
    problems = RowProblems()
    for row in tqdm(scan.rows, desc="checking audio", disable=not progress):
        try:
            data, rate = decode_audio(open_audio(row))
        except AudioError as exc:
            problems.reject(row, audio_rule(exc), undecodable_problem(exc))
            continue
        seconds.append(len(data) / rate)
    return seconds, problems.rejected


def import_corpus(
    corpus: CorpusParams,
    sample_rate: int,
    data_root: Path = DATA_ROOT,
    progress: bool = True,
    policy: AudioPolicy = CONVERT_ALL,
) -> tuple[list[Utterance], list[RejectedRow]]:
    """Import ``corpus`` into ``data_root`` (audio, split manifests and the rejected rows, all or
    nothing); the imported rows and the rejected ones, which the ``validate`` stage reports.

    ``policy`` says whether audio may be resampled and down-mixed on the way in (by default it may)."""
    scan = scan_corpus(corpus.kind, corpus.source or "", corpus.language, corpus.text_column)
    return write_corpus(scan.rows, data_root, corpus.kind, sample_rate, progress, policy, scan.rejected)

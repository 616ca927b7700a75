"""The two ways in: ``scan_corpus`` reads and checks a source, ``import_corpus`` makes it the pipeline's data.

``prepare`` calls :func:`import_corpus` when ``prepare.corpus.kind`` is not ``demo``; the CLI calls
:func:`scan_corpus` and :func:`probe_durations` to check a source before naming it in params.yaml.
"""

from __future__ import annotations

from pathlib import Path

from components.config import AudioPolicy, CorpusParams
from components.data.importers.base import CorpusError, RowProblems, SourceRow
from components.data.importers.convert import CONVERT_ALL, open_audio, undecodable, write_corpus
from components.data.importers.registry import get_importer
from components.data.languages import iso639_3
from components.data.manifest import DATA_ROOT, Utterance


def scan_corpus(kind: str, source: str | Path, language: str | None = None) -> list[SourceRow]:
    """The rows of ``source`` read as layout ``kind``; with ``language``, only the rows in that language.

    ``language`` is also the language of rows whose layout records none. Ids must be unique.
    """
    importer = get_importer(kind)
    source = Path(source).absolute()  # errors name a findable file; folder names (e.g. a locale) are kept
    if not source.exists():
        raise CorpusError(f"{source}: no such file or folder")
    try:
        wanted = iso639_3(language) if language else None
    except ValueError as exc:
        raise CorpusError(f"language: {exc}") from None
    rows = importer.scan(source, wanted)
    kept = [row for row in rows if wanted is None or row.language == wanted]
    if not kept:
        if rows:
            found = ", ".join(sorted({row.language for row in rows}))
            raise CorpusError(f"{source}: no utterances in language {wanted} (found: {found})")
        raise CorpusError(f"{source}: no utterances found; expected {importer.layout}")
    first: dict[str, SourceRow] = {}
    problems = RowProblems()
    for row in kept:
        with problems.row():
            if row.id in first:
                raise CorpusError(f"{row.origin}: duplicate id {row.id!r} (first at {first[row.id].origin})")
            first[row.id] = row
    problems.check(source)
    return kept


def probe_durations(rows: list[SourceRow], progress: bool = True) -> list[float]:
    """Seconds of each row's audio from its header alone; undecodable files are an error naming every row."""
    import soundfile as sf
    from tqdm import tqdm

    seconds = []
    problems = RowProblems()
    for row in tqdm(rows, desc="checking audio", disable=not progress):
        with problems.row():
            try:
                info = sf.info(open_audio(row))
            except (sf.LibsndfileError, RuntimeError, OSError) as exc:
                raise undecodable(row, f"{row.describe_audio()}: cannot decode audio ({exc})") from None
            seconds.append(info.frames / info.samplerate)
    problems.check("audio check")
    return seconds


def import_corpus(
    corpus: CorpusParams,
    sample_rate: int,
    data_root: Path = DATA_ROOT,
    progress: bool = True,
    policy: AudioPolicy = CONVERT_ALL,
) -> list[Utterance]:
    """Import ``corpus`` into ``data_root`` (audio and split manifests, all or nothing); its rows.

    ``policy`` says whether audio may be resampled and down-mixed on the way in (by default it may)."""
    rows = scan_corpus(corpus.kind, corpus.source or "", corpus.language)
    return write_corpus(rows, data_root, corpus.kind, sample_rate, progress, policy)

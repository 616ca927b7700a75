"""A fingerprint of an imported corpus's files, so that a corpus changed in place re-runs ``prepare``.

DVC hashes ``prepare``'s outputs, not the source corpus it reads (which may live anywhere and be very
large), and the source's path alone does not change when a file is edited or a release is unpacked
over the old one. The fingerprint hashes the path, size and modification time of every file under the
source (the source file itself when it is one) and of each row's audio wherever it lies; ``data
import`` records it as ``prepare.corpus.snapshot`` and ``retrain`` refreshes it before DVC decides what
to run. It decodes no audio (the rows are scanned as an import scans them: tables, or a dataset's
rows); a file rewritten with the same size and modification time is not noticed, and copying a corpus
without keeping modification times gives it a new snapshot (one more import, with the same result).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from components.data.importers.corpus import CorpusScan, scan_corpus

SNAPSHOT_CHARS = 16


def files_read(source: Path, scan: CorpusScan) -> list[Path]:
    """Every file the import reads: the source file or the files under the source folder, the audio,
    and the audio files rejected rows name (a missing one that appears changes the snapshot)."""
    source = source.resolve()
    found = {source} if source.is_file() else {p.resolve() for p in source.rglob("*") if p.is_file()}
    found |= {row.audio.resolve() for row in scan.rows if isinstance(row.audio, Path)}
    found |= {Path(row.audio).resolve() for row in scan.rejected if row.audio}
    return sorted(found)


def corpus_snapshot(source: Path, scan: CorpusScan) -> str:
    """A short hash of (path relative to the source, size, modification time) over :func:`files_read`.

    Relative paths make the snapshot the same however the source was named (``..``, a symlink, an
    absolute path) and wherever the corpus and its audio move together."""
    base = Path(source).resolve()
    digest = hashlib.sha256()
    for path in files_read(source, scan):
        relative = Path(os.path.relpath(path, base)).as_posix()
        try:
            stat = path.stat()
        except FileNotFoundError:
            digest.update(f"{relative}\tmissing\n".encode())
            continue
        digest.update(f"{relative}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:SNAPSHOT_CHARS]


def source_path(source: str, workspace: Path) -> Path:
    """``prepare.corpus.source`` as ``prepare`` resolves it: relative paths are to the workspace."""
    path = Path(source)
    return path if path.is_absolute() else Path(workspace) / path


def refresh_snapshot(workspace: Path) -> str | None:
    """Record the imported corpus's current snapshot in params.yaml if it changed; what was done, if anything.

    A demo corpus has none. The source is scanned as ``prepare`` would (a source that cannot be read
    as a whole fails here, before any stage runs; bad rows are left for ``validate`` to report).
    """
    from components.config import load_params
    from components.params_file import update_params

    params_path = Path(workspace) / "params.yaml"
    corpus = load_params(params_path).prepare.corpus
    if corpus.kind == "demo" or corpus.source is None:
        return None
    source = source_path(corpus.source, workspace)
    scan = scan_corpus(corpus.kind, source, corpus.language, corpus.text_column)
    snapshot = corpus_snapshot(source, scan)
    if snapshot == corpus.snapshot:
        return None
    update_params(params_path, {"prepare.corpus.snapshot": snapshot})
    before = corpus.snapshot or "none"
    return f"prepare.corpus.snapshot: {before} → {snapshot} ({source} changed since it was imported)"

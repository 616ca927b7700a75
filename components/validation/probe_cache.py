"""The probe cache: an unchanged corpus is decoded once, however often it is validated.

Two levels, in one SQLite file: (path, size, mtime_ns) → content hash, so an untouched file is not even
read; and content hash → :class:`AudioFacts`, so a file that was copied, moved or checked out again by
DVC is hashed but not decoded. The cache only saves time: deleting it changes no result, and a cache
that cannot be read is started afresh rather than failing validation.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import astuple, fields
from pathlib import Path

from components.validation.audio_facts import AudioFacts

CACHE_FILE = "probes.sqlite"
# Bump when decode_facts measures differently, so facts cached by an older probe are not reused.
PROBE_VERSION = "2"  # 2: non-finite count, clipped share, constant signal
FACT_COLUMNS = tuple(f.name for f in fields(AudioFacts))
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT)",
    f"CREATE TABLE IF NOT EXISTS facts (sha256 TEXT PRIMARY KEY, {', '.join(FACT_COLUMNS)})",
)

StatKey = tuple[int, int]


class ProbeCache:
    """Loaded whole at open and written back in one transaction by :meth:`save`; ``directory=None``
    keeps it in memory only (nothing is read or written)."""

    def __init__(self, directory: Path | None) -> None:
        self.path = Path(directory) / CACHE_FILE if directory is not None else None
        self._files: dict[str, tuple[StatKey, str]] = {}
        self._facts: dict[str, AudioFacts] = {}
        self._new_files: dict[str, tuple[StatKey, str]] = {}
        self._new_facts: dict[str, AudioFacts] = {}
        if self.path is not None and self.path.is_file():
            try:
                self._load()
            except sqlite3.DatabaseError:
                self.path.unlink(missing_ok=True)  # unreadable: start afresh, results do not depend on it
                self._files, self._facts = {}, {}

    def content_hash(self, path: str, info: os.stat_result) -> str | None:
        """The cached hash of ``path`` if the file's size and mtime are what they were when it was hashed."""
        entry = self._files.get(path)
        return entry[1] if entry and entry[0] == (info.st_size, info.st_mtime_ns) else None

    def facts(self, digest: str) -> AudioFacts | None:
        return self._facts.get(digest)

    def known_facts(self) -> dict[str, AudioFacts]:
        return self._facts

    def remember(self, path: str, info: os.stat_result, digest: str, facts: AudioFacts) -> None:
        entry = ((info.st_size, info.st_mtime_ns), digest)
        self._files[path] = self._new_files[path] = entry
        self._facts[digest] = self._new_facts[digest] = facts

    def save(self) -> None:
        """Write what this run learnt; a cache that cannot be written is skipped, never fatal."""
        if self.path is None or not (self._new_files or self._new_facts):
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as db, db:
                db.executemany(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                    [(path, *key, digest) for path, (key, digest) in self._new_files.items()],
                )
                marks = ", ".join("?" * (len(FACT_COLUMNS) + 1))
                db.executemany(
                    f"INSERT OR REPLACE INTO facts VALUES ({marks})",
                    [(digest, *astuple(facts)) for digest, facts in self._new_facts.items()],
                )
        except (sqlite3.Error, OSError):
            return
        self._new_files, self._new_facts = {}, {}

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        db = sqlite3.connect(self.path)
        for statement in SCHEMA:
            db.execute(statement)
        version = db.execute("SELECT value FROM meta WHERE key = 'probe_version'").fetchone()
        if version is None or version[0] != PROBE_VERSION:
            with db:
                db.execute("DELETE FROM files")
                # an older probe's facts table has other columns: it is rebuilt, not emptied
                db.execute("DROP TABLE IF EXISTS facts")
                db.execute(SCHEMA[2])
                db.execute("INSERT OR REPLACE INTO meta VALUES ('probe_version', ?)", (PROBE_VERSION,))
        return db

    def _load(self) -> None:
        with closing(self._connect()) as db:
            self._files = {
                path: ((size, mtime_ns), digest)
                for path, size, mtime_ns, digest in db.execute(
                    "SELECT path, size, mtime_ns, sha256 FROM files"
                )
            }
            columns = ", ".join(FACT_COLUMNS)
            self._facts = {
                digest: facts_from_row(row)
                for digest, *row in db.execute(f"SELECT sha256, {columns} FROM facts")
            }


BOOL_FACTS = frozenset(f.name for f in fields(AudioFacts) if str(f.type).startswith("bool"))


def facts_from_row(row: list) -> AudioFacts:
    """AudioFacts from a stored row: SQLite gives booleans back as 0/1, turned back into bools here."""
    values = {
        name: bool(value) if name in BOOL_FACTS and value is not None else value
        for name, value in zip(FACT_COLUMNS, row, strict=True)
    }
    return AudioFacts(**values)

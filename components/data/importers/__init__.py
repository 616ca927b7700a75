"""Importers: bring a corpus in a public layout into the manifest contract and the workspace's data root."""

from components.data.importers.base import CorpusError, Importer, SourceRow
from components.data.importers.corpus import import_corpus, probe_durations, scan_corpus
from components.data.importers.registry import IMPORTERS, get_importer

__all__ = [
    "IMPORTERS",
    "CorpusError",
    "Importer",
    "SourceRow",
    "get_importer",
    "import_corpus",
    "probe_durations",
    "scan_corpus",
]

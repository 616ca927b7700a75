"""KIND → importer: the one table that says which corpus layouts ``prepare`` and the CLI can import."""

from __future__ import annotations

from components.data.importers.base import CorpusError, Importer
from components.data.importers.commonvoice import CommonVoiceImporter
from components.data.importers.covost2 import CoVoST2Importer
from components.data.importers.fleurs import FleursImporter
from components.data.importers.hf import HFImporter
from components.data.importers.librispeech import LibriSpeechImporter
from components.data.importers.manifest_files import CsvImporter, JsonlImporter

IMPORTERS: dict[str, type[Importer]] = {
    importer.kind: importer
    for importer in (
        JsonlImporter,
        CsvImporter,
        HFImporter,
        CommonVoiceImporter,
        LibriSpeechImporter,
        FleursImporter,
        CoVoST2Importer,
    )
}


def get_importer(kind: str, text_column: str | None = None) -> Importer:
    try:
        return IMPORTERS[kind](text_column)
    except KeyError:
        raise CorpusError(f"unknown corpus kind {kind!r}; choose from {', '.join(IMPORTERS)}") from None

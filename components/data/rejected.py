"""Source rows an import could not bring in: written beside the manifests, reported by validation.

A row-level defect (a missing or undecodable file, an unknown language, a duplicate id, a line that is
not valid UTF-8, …) does not stop an import: the row is left out of the manifests and recorded here
with the validation rule it fails, so one ``validate`` run names every bad row of every kind, whether
the import or the probe found it. Faults of the corpus as a whole (no manifest, missing columns) still
stop the import at once.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

REJECTED_FILE = "rejected.jsonl"  # in the manifests folder, written with the manifests

# Every rule an import rejects a row for; validation grades each (components.validation.imports).
IMPORT_RULES = (
    "row_readable",
    "id_set",
    "id_unique",
    "text_set",
    "text_utf8",
    "language_set",
    "language_known",
    "split_known",
    "audio_set",
    "audio_exists",
    "audio_file_name",
    "audio_decodable",
    "audio_finite",
)


@dataclass(frozen=True)
class RejectedRow:
    """One source row left out of the import.

    ``origin`` is where it was read (``/corpus/train.tsv:17``, ``/corpus [test] row 4``); ``rule`` the
    validation rule it fails (``audio_exists``, ``id_unique``, …); ``id`` and ``split`` are set when they
    could be read; ``audio`` is the file the row names, so a snapshot notices when it appears or changes.
    """

    origin: str
    rule: str
    problem: str
    id: str | None = None
    split: str | None = None
    audio: str | None = None

    def describe(self) -> str:
        """One line: where, which id, what is wrong."""
        uid = f" (id {self.id})" if self.id else ""
        return f"{self.origin}{uid}: {self.problem}"


def write_rejected(path: Path, rows: list[RejectedRow]) -> None:
    """Every rejected row as one JSON line, in the order the import met them."""
    lines = (json.dumps(asdict(row), ensure_ascii=False, sort_keys=True) for row in rows)
    Path(path).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def read_rejected(path: Path) -> list[RejectedRow]:
    """The rows :func:`write_rejected` wrote."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [RejectedRow(**json.loads(line)) for line in lines if line.strip()]

"""Read the manifests for validation: every row, each tagged with where it came from.

Unlike :func:`components.data.manifest.read_rows`, a line that is not valid UTF-8 does not stop the
read: it is decoded with replacement characters and flagged, so the report names that row instead of
the whole file failing to load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from components.data.manifest import parse_line

ROW_COLUMN = "manifest_row"  # "train.jsonl:3": locates a row even when its id is missing or repeated
UTF8_COLUMN = "utf8_valid"  # False when the line's bytes (or a \\u escape in it) are not valid UTF-8
LOADER_COLUMNS = (ROW_COLUMN, UTF8_COLUMN)


def decode_line(raw: bytes) -> tuple[str, bool]:
    """The line as text and whether its bytes were valid UTF-8."""
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), False


def encodable(row: dict[str, Any]) -> bool:
    """False when a JSON ``\\ud800``-style escape left a lone surrogate, which no UTF-8 file can hold."""
    try:
        json.dumps(row, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def repair(row: dict[str, Any]) -> dict[str, Any]:
    """The row with lone surrogates replaced, so it can still be written to the quarantine file."""
    text = json.dumps(row, ensure_ascii=False).encode("utf-8", errors="replace").decode("utf-8")
    return json.loads(text)


def read_manifest_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of one JSON Lines manifest, tagged with :data:`ROW_COLUMN` and :data:`UTF8_COLUMN`."""
    rows: list[dict[str, Any]] = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        line, valid = decode_line(raw)
        if not line.strip():
            continue
        row = parse_line(path, number, line)
        if not isinstance(row, dict):
            raise ValueError(f"{path}: row {number} is not a JSON object")
        if not encodable(row):
            row, valid = repair(row), False
        rows.append({**row, ROW_COLUMN: f"{path.name}:{number}", UTF8_COLUMN: valid})
    return rows


def load_manifests(manifest_paths: list[Path]) -> list[dict[str, Any]]:
    """All rows of all manifests, in file order."""
    rows: list[dict[str, Any]] = []
    for path in map(Path, manifest_paths):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: manifest not found")
        rows.extend(read_manifest_rows(path))
    return rows


def source_row(row: dict[str, Any]) -> dict[str, Any]:
    """The row as the manifest holds it, without the loader's tags."""
    return {key: value for key, value in row.items() if key not in LOADER_COLUMNS}

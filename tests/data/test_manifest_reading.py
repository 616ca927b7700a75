"""Reading manifests for validation: a bad byte flags its row; a broken file still names file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.validation.manifests import load_manifests, source_row


def write_lines(path: Path, *lines: bytes) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def test_invalid_utf8_and_lone_surrogates_flag_only_their_rows(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "train.jsonl",
        json.dumps({"id": "a", "text": "fine"}).encode(),
        b'{"id": "b", "text": "caf\xe9"}',
        b"",
        b'{"id": "c", "text": "half a pair \\ud800"}',
        json.dumps({"id": "d", "text": "caf\u00e9"}, ensure_ascii=False).encode(),
    )
    rows = load_manifests([path])
    assert [(r["id"], r["utf8_valid"], r["manifest_row"]) for r in rows] == [
        ("a", True, "train.jsonl:1"),
        ("b", False, "train.jsonl:2"),
        ("c", False, "train.jsonl:4"),
        ("d", True, "train.jsonl:5"),
    ]
    assert rows[1]["text"] == "caf\ufffd"
    json.dumps(rows[2], ensure_ascii=False).encode("utf-8")  # the repaired row can be written
    assert source_row(rows[0]) == {"id": "a", "text": "fine"}


@pytest.mark.parametrize(("line", "message"), [(b"{not", "train.jsonl:2: not valid JSON"), (b"[1]", "row 2")])
def test_a_line_that_is_no_json_object_names_file_and_line(tmp_path: Path, line: bytes, message: str) -> None:
    path = write_lines(tmp_path / "train.jsonl", b'{"id": "a"}', line)
    with pytest.raises(ValueError, match=message):
        load_manifests([path])

"""Run records leave a stage's summary by name and land outside its DVC outputs."""

from __future__ import annotations

import json
from pathlib import Path


def test_split_record_removes_dotted_keys_and_skips_absent_ones(tmp_path: Path) -> None:
    from components.run_records import clear_run_records, split_record, write_run_record

    summary = {"steps": 3, "train_seconds": 9.5, "phases": {"align": {"seconds": 9.5, "steps": 3}}}
    keys = ["train_seconds", "phases.align.seconds", "phases.lora.seconds", "text.torch_seconds"]
    record = split_record(summary, keys)
    assert record == {"train_seconds": 9.5, "phases.align.seconds": 9.5}
    assert summary == {"steps": 3, "phases": {"align": {"steps": 3}}}
    path = write_run_record("train", record, tmp_path)
    assert path == tmp_path / "reports/run_records/train.json" and json.loads(path.read_text()) == record
    (tmp_path / "reports/validation_docs").mkdir()
    clear_run_records(tmp_path)  # before DVC runs: a skipped stage leaves no record of another run
    assert not (tmp_path / "reports/run_records").exists()
    assert not (tmp_path / "reports/validation_docs").exists()
    assert (tmp_path / "reports").is_dir()

"""Timings leave a stage's summary by name and land outside its DVC outputs."""

from __future__ import annotations

import json
from pathlib import Path


def test_pop_timings_removes_dotted_keys_and_skips_absent_ones(tmp_path: Path) -> None:
    from components.timings import pop_timings, write_timings

    summary = {"steps": 3, "train_seconds": 9.5, "phases": {"align": {"seconds": 9.5, "steps": 3}}}
    keys = ["train_seconds", "phases.align.seconds", "phases.lora.seconds", "text.torch_seconds"]
    timings = pop_timings(summary, keys)
    assert timings == {"train_seconds": 9.5, "phases.align.seconds": 9.5}
    assert summary == {"steps": 3, "phases": {"align": {"steps": 3}}}
    path = write_timings("train", timings, tmp_path)
    assert path == tmp_path / "reports/timings/train.json" and json.loads(path.read_text()) == timings

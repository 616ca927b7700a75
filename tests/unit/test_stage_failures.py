"""A failed stage is reported in one line: what the stage said it failed on, never its whole log again."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


def test_the_summary_is_the_stages_own_error_lines_or_its_last_line() -> None:
    from components.stages.pipeline import error_summary

    validate = [
        "| rule | severity | ids |",
        "| language_known | critical | spa_0001, spa_0002 |",
        "validate: error: 2 bad utterance(s): spa_0001, spa_0002 (details: reports/validation/results.json)",
        "speechalign validate: error: validation failed",
        "ERROR: failed to reproduce 'validate': failed to run: python -m components.stages.validate",
    ]
    assert error_summary(validate) == (
        "validate: error: 2 bad utterance(s): spa_0001, spa_0002 (details: reports/validation/results.json); "
        "speechalign validate: error: validation failed"
    )
    crash = [
        "Traceback (most recent call last):",
        '  File "x.py", line 1',
        "TypeError: Got unsupported ScalarType",
    ]
    assert (
        error_summary([*crash, "ERROR: failed to reproduce 'evaluate'"])
        == "TypeError: Got unsupported ScalarType"
    )
    assert error_summary([]) == "no output"


def test_a_failed_dvc_call_raises_one_line_when_its_output_was_shown(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    from components.stages import pipeline

    script = tmp_path / "dvc"
    script.write_text(
        f"#!{sys.executable}\nprint('| table |')\n"
        "print('validate: error: 1 bad utterance(s): u1')\nraise SystemExit(1)\n"
    )
    script.chmod(0o755)
    monkeypatch.setattr(pipeline.sys, "executable", str(tmp_path / "python"))  # dvc is looked up beside it
    with pytest.raises(pipeline.StageFailed) as shown:
        pipeline.run_dvc(["repro", "validate"], "validate", tmp_path, 60, echo=True)
    assert str(shown.value) == (
        "stage validate: dvc repro validate exited with 1: validate: error: 1 bad utterance(s): u1"
    )
    assert capsys.readouterr().out.count("| table |") == 1  # streamed once, not repeated in the error
    with pytest.raises(pipeline.StageFailed) as quiet:
        pipeline.run_dvc(["repro", "validate"], "validate", tmp_path, 60, echo=False)
    assert "| table |" in str(quiet.value)  # nothing was shown: the message carries the tail


def test_a_time_limit_lets_the_stage_save_before_it_stops(tmp_path: Path, monkeypatch) -> None:
    from components.stages import pipeline

    saved = tmp_path / "saved"
    stage = tmp_path / "stage.py"  # the stage DVC runs: on SIGTERM it saves, as train saves a checkpoint
    stage.write_text(
        "import signal, sys, time\n"
        f"signal.signal(signal.SIGTERM, lambda *_: (open({str(saved)!r}, 'w').write('ok'), sys.exit(75)))\n"
        "print('training', flush=True)\n"
        "time.sleep(60)\n"
    )
    script = tmp_path / "dvc"
    script.write_text(
        f"#!{sys.executable}\nimport subprocess, sys\nsubprocess.run([sys.executable, {str(stage)!r}])\n"
    )
    script.chmod(0o755)
    monkeypatch.setattr(pipeline.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(pipeline.StageFailed, match="stopped after its time limit of 2 s"):
        pipeline.run_dvc(["repro", "train"], "train", tmp_path, 2, echo=False)
    assert saved.read_text() == "ok"  # the stage got its SIGTERM and the time to act on it

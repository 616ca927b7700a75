"""Commands that read a workspace, run where there is none: one line naming the missing file, exit 1,
no traceback, no flow run started, and the directory left as it was (no ``.speechalign/``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app


@pytest.mark.parametrize(
    "command",
    [
        ["models"],
        ["lineage", "1"],
        ["reproduce", "1"],
        ["evaluate", "--model", "1"],
        ["promote", "1"],
        ["rollback"],
        ["retrain"],
    ],
    ids=lambda command: command[0],
)
def test_a_command_outside_a_workspace_says_so_and_leaves_nothing(tmp_path: Path, command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--workspace", str(tmp_path)])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines == [f"speechalign: error: {tmp_path / 'params.yaml'}: file not found"], result.output
    assert list(tmp_path.iterdir()) == []

"""``real-demo`` lays the real preset over the workspace before importing; a failed fetch undoes it."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
import yaml

import flows.real_demo_cli as real_demo_cli


def encoder_of(params: Path) -> str:
    return yaml.safe_load(params.read_text(encoding="utf-8"))["prepare"]["base_models"]["encoder"]


def test_the_import_sees_the_real_encoder_and_a_failed_fetch_restores_the_params(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path / "real"
    seen: list[str] = []

    def fake_run_cli(*args: str) -> None:
        if args[:2] == ("data", "fetch"):
            # what `data import` reads when it warns about durations: the params as they are now
            seen.append(encoder_of(Path(args[args.index("--workspace") + 1]) / "params.yaml"))
            raise typer.Exit(code=1)  # the registry is unreachable

    monkeypatch.setattr(real_demo_cli, "run_cli", fake_run_cli)
    with pytest.raises(typer.Exit):
        real_demo_cli.real_demo(recipe="blsp", languages="eng,spa", steps=4, workspace=workspace)
    preset = yaml.safe_load(real_demo_cli.REAL_PRESET.read_text(encoding="utf-8"))
    assert seen == [preset["prepare"]["base_models"]["encoder"]]
    # the fetch failed: the workspace's params are the demo's again, not half the real preset
    assert encoder_of(workspace / "params.yaml") == "tiny"

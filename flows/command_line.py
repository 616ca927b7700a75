"""What every ``speechalign`` command shares: the workspace option and the one-line failure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

Workspace = Annotated[Path, typer.Option(help="Pipeline workspace: a git + DVC repo with params.yaml.")]


def fail(message: str) -> NoReturn:
    typer.secho(f"speechalign: error: {message}", fg="red", err=True)
    raise typer.Exit(code=1)

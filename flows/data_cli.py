"""``speechalign data``: bring your own corpus into the pipeline.

``data import KIND SOURCE`` reads and checks the corpus now (layout, columns, languages, every audio
file's header), then names it in params.yaml (``prepare.corpus``). The conversion itself is ``prepare``'s
job: it re-runs because the params changed, writes the audio and manifests as DVC outputs, and so the
next ``speechalign retrain`` trains on the imported corpus with its lineage recorded.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from components.data.manifest import SPLITS
from flows.command_line import Workspace, fail

if TYPE_CHECKING:
    from components.config import Params, ValidateParams
    from components.data.importers import SourceRow
    from components.data.rejected import RejectedRow

data_app = typer.Typer(help="Bring your own corpus into the pipeline.", no_args_is_help=True)


def params_source(source: Path, workspace: Path) -> str:
    """The path params.yaml records: relative inside the workspace (it moves with it), else absolute."""
    source = source.resolve()
    return source.relative_to(workspace).as_posix() if source.is_relative_to(workspace) else source.as_posix()


def duration_limits(params: Params) -> ValidateParams:
    """``validate`` with the encoder's limit filled in when the params leave it to the encoder, as the
    validate stage will; left open when the encoder cannot be read yet (validate then checks)."""
    from components.checkpoints.convert import resolve_source
    from components.modeling.base_models import encoder_max_seconds

    base = params.prepare.base_models
    try:
        if base.encoder == "tiny":
            seconds = base.tiny_encoder.max_seconds
        else:
            seconds = encoder_max_seconds(resolve_source(base.encoder).load_path)
    except (OSError, ValueError):
        return params.validate
    return params.validate.with_encoder_limit(seconds)


def corpus_warnings(rows: list[SourceRow], seconds: list[float], validate: ValidateParams) -> list[str]:
    """What will stop the pipeline later, said now: empty splits, languages or durations validate rejects."""
    warnings = []
    splits = Counter(row.split for row in rows)
    empty = [split for split in SPLITS if not splits[split]]
    if empty:
        warnings.append(
            f"no {'/'.join(empty)} utterances: training, validation and evaluation need all splits"
        )
    unexpected = sorted({row.language for row in rows} - set(validate.languages))
    if unexpected:
        warnings.append(
            f"languages {', '.join(unexpected)} are not in validate.languages"
            f" ({', '.join(validate.languages)}): add them there, or validation rejects those utterances"
        )
    longest = validate.max_duration_s or float("inf")  # None: the encoder's limit, checked by validate
    too_long = sum(s > longest for s in seconds)
    too_short = sum(s < validate.min_duration_s for s in seconds)
    if too_long or too_short:
        warnings.append(
            f"{too_long} utterances are longer than validate.max_duration_s ({longest:g} s) and"
            f" {too_short} shorter than validate.min_duration_s ({validate.min_duration_s} s)"
        )
    return warnings


def rejected_report(rejected: list[RejectedRow], shown: int = 50) -> str:
    """The rejected rows, one indented line each, under the rule each fails; the rest counted."""
    lines = [f"  [{row.rule}] {row.describe()}" for row in rejected[:shown]]
    if len(rejected) > shown:
        lines.append(f"  … and {len(rejected) - shown} more")
    return "\n".join(lines)


@data_app.command("import")
def import_corpus(
    kind: Annotated[
        str, typer.Argument(help="Layout: jsonl, csv, hf, commonvoice, librispeech, fleurs or covost2.")
    ],
    source: Annotated[Path, typer.Argument(help="The corpus folder or file.")],
    language: Annotated[
        str | None,
        typer.Option(
            help="Keep only this language (ISO 639 code, locale or English name); also labels rows that"
            " carry none or a label that cannot be read."
        ),
    ] = None,
    text_column: Annotated[
        str | None,
        typer.Option(
            help="The transcript's column where the layout has several (hf, fleurs); default: the raw one."
        ),
    ] = None,
    workspace: Workspace = Path("."),
) -> None:
    """Check SOURCE and make it the corpus that `speechalign retrain` prepares (prepare.corpus)."""
    from components.config import ParamsError, load_params
    from components.data.importers import IMPORTERS, CorpusError, probe_durations, scan_corpus
    from components.data.importers.snapshot import corpus_snapshot
    from components.data.languages import iso639_3
    from components.params_file import update_params
    from components.workspace_lock import WorkspaceBusy, workspace_lock

    workspace = workspace.resolve()
    params_path = workspace / "params.yaml"
    try:
        params = load_params(params_path)
    except ParamsError as exc:
        fail(str(exc))
    if kind not in IMPORTERS:
        fail(f"unknown corpus kind {kind!r}; choose from {', '.join(IMPORTERS)}")
    try:
        language = iso639_3(language) if language else None
    except ValueError as exc:
        fail(f"--language: {exc}")
    try:
        scan = scan_corpus(kind, source, language, text_column)
    except CorpusError as exc:
        fail(str(exc))
    seconds, undecodable = probe_durations(scan)
    unusable = {bad.id for bad in undecodable}
    rows = [row for row in scan.rows if row.id not in unusable]
    if not rows:
        fail(f"{source}: no row can be imported:\n" + rejected_report(scan.rejected + undecodable))
    corpus = {
        "kind": kind,
        "source": params_source(source, workspace),
        "language": language,
        # written when chosen, or to clear an earlier choice: params.yaml stays as short as it was
        **({"text_column": text_column} if text_column or params.prepare.corpus.text_column else {}),
        "snapshot": corpus_snapshot(source.resolve(), scan),
    }
    try:
        with workspace_lock(workspace, "data import"):  # never under a running retrain
            update_params(params_path, {"prepare.corpus": corpus})
    except (ParamsError, WorkspaceBusy) as exc:
        fail(str(exc))

    splits = Counter(row.split for row in rows)
    languages = Counter(row.language for row in rows)
    total = sum(seconds)
    typer.echo(
        f"{kind} corpus {source}: {len(rows)} utterances, "
        + (f"{total / 3600:.2f} h" if total >= 360 else f"{total:.1f} s")
        + f"; {', '.join(f'{split} {splits[split]}' for split in SPLITS)}"
        + f"; languages {', '.join(f'{code} {count}' for code, count in sorted(languages.items()))}"
    )
    canonicalised = sum(row.canonicalised for row in rows)
    if canonicalised:
        typer.echo(
            f"{canonicalised} transcripts canonicalised: Unicode NFC, invisible characters removed, "
            "spaces collapsed"
        )
    for warning in corpus_warnings(rows, seconds, duration_limits(params)):
        typer.secho(f"warning: {warning}", fg="yellow", err=True)
    if scan.rejected or undecodable:
        rejected = scan.rejected + undecodable
        typer.secho(
            f"warning: {len(rejected)} row(s) will not be imported; `speechalign retrain` stops at"
            f" validate with every one in its report unless they are few enough to quarantine:\n"
            + rejected_report(rejected),
            fg="yellow",
            err=True,
        )
    typer.echo(f"{params_path}: prepare.corpus = kind {kind}, source {corpus['source']}")
    typer.echo("next: `speechalign retrain` imports it (prepare re-runs because prepare.corpus changed)")


FETCHABLE = ("asterisk",)


@data_app.command("fetch")
def fetch_corpus(
    name: Annotated[str, typer.Argument(help="The corpus: asterisk (recorded telephony prompts).")],
    languages: Annotated[
        str, typer.Option(help="Comma-separated languages (ISO 639-1 or -3): en, es, fr, it, ru.")
    ] = "eng,spa",
    workspace: Workspace = Path("."),
) -> None:
    """Fetch a corpus by package name into the cache, build its manifest, and import it (as jsonl)."""
    from components.cache import cache_root
    from components.data.fetch.asterisk import fetch_asterisk
    from components.data.fetch.errors import FetchError

    if name not in FETCHABLE:
        fail(f"unknown corpus {name!r}; choose from {', '.join(FETCHABLE)}")
    codes = [code.strip() for code in languages.split(",") if code.strip()]
    try:
        summary = fetch_asterisk(codes, cache_root())
    except (FetchError, ValueError) as exc:
        fail(str(exc))
    for line in summary.lines():
        typer.echo(line)
    import_corpus("jsonl", summary.manifest, None, workspace)

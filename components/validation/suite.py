"""The data-quality suite for the manifests, run by great-expectations (rules: :mod:`.rules`).

The suite is the single owner of "what good data is" (DESIGN.md): it runs over the probed manifest
frame (:func:`components.validation.probe.probe_audio`) in an ephemeral context, so nothing is read
from or written to a ``gx/`` project folder, and every failed expectation names its utterance ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.config import ValidateParams
from components.validation.imports import import_expectations
from components.validation.manifests import ROW_COLUMN
from components.validation.rules import CRITICAL, WARNING, build_expectations, import_gx

if TYPE_CHECKING:
    import great_expectations as gx
    import pandas as pd

__all__ = ["CRITICAL", "WARNING", "Check", "Failure", "SuiteResult", "run_suite"]
SUITE_NAME = "speechalign_manifest"
IMPORT_SUITE_NAME = "speechalign_import"
DOCS_SITE_NAME = "speechalign"
ID_COLUMN = "id"


@dataclass(frozen=True)
class Check:
    """One evaluated expectation, pass or fail: the per-rule counts of the report."""

    rule: str
    severity: str
    success: bool
    unexpected: int | None  # rows it found unexpected; None for table-level rules or when it errored


@dataclass(frozen=True)
class Failure:
    """One expectation that did not pass; ``error`` is set when it could not be evaluated at all."""

    expectation: str
    column: str | None
    severity: str
    ids: list[str] = field(default_factory=list)
    description: str = ""
    error: str | None = None
    rule: str = ""
    rows: list[str] = field(default_factory=list)  # manifest_row locators of the offending rows

    @property
    def blocking(self) -> bool:
        """An error is always blocking: an unevaluated rule says nothing about the data."""
        return self.severity == CRITICAL or self.error is not None


@dataclass(frozen=True)
class SuiteResult:
    """The parsed outcome of one suite run; ``success`` means no blocking failure."""

    success: bool
    checks: list[Check]
    failures: list[Failure]

    @property
    def evaluated(self) -> int:
        return len(self.checks)


def make_context(docs_dir: Path | None = None) -> Any:
    """An ephemeral context with progress bars off and, optionally, one local data docs site.

    The ephemeral context comes with a ``local_site`` in a temp folder; it is replaced, so docs are
    only written where asked.
    """
    gx = import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    for site in list(context.list_data_docs_sites()):
        context.delete_data_docs_site(site)
    if docs_dir is not None:
        context.add_data_docs_site(
            DOCS_SITE_NAME,
            {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(Path(docs_dir).resolve()),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    return context


def run_suite(
    frame: pd.DataFrame,
    params: ValidateParams,
    docs_dir: Path | None = None,
    rejected: pd.DataFrame | None = None,
) -> SuiteResult:
    """Validate the probed frame, derived columns added (:mod:`components.validation.derived`), and
    with ``rejected`` (:func:`components.validation.imports.rejected_frame`) the rows the import left
    out, as a second validation of the same run; with ``docs_dir``, also render the data docs there."""
    context = make_context(docs_dir)
    expectations = build_expectations(params)
    runs = [run_checkpoint(context, "manifest", gx_suite(SUITE_NAME, expectations), frame, docs_dir)]
    if rejected is not None:
        grades = {e.meta["rule"]: (e.meta["severity"], e.description) for e in expectations}
        suite = gx_suite(IMPORT_SUITE_NAME, import_expectations(grades))
        runs.append(run_checkpoint(context, "import", suite, rejected, docs_dir))
    return parse_results(runs)


def gx_suite(name: str, expectations: list[Any]) -> gx.ExpectationSuite:
    return import_gx().ExpectationSuite(name=name, expectations=expectations)


def run_checkpoint(
    context: Any, name: str, suite: gx.ExpectationSuite, frame: pd.DataFrame, docs_dir: Path | None
) -> Any:
    """Run ``suite`` over ``frame`` as checkpoint ``name``, naming offending rows by id and manifest row."""
    gx = import_gx()
    from great_expectations.checkpoint import UpdateDataDocsAction

    batch = (
        context.data_sources.add_pandas(name)
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("all_rows")
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=context.suites.add(suite))
    )
    index_columns = [c for c in (ID_COLUMN, ROW_COLUMN) if c in frame.columns]
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"validate-{name}",
            validation_definitions=[definition],
            actions=[UpdateDataDocsAction(name="data_docs")] if docs_dir is not None else [],
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": index_columns},
        )
    )
    return checkpoint.run(batch_parameters={"dataframe": frame})


def parse_results(outcomes: list[Any]) -> SuiteResult:
    """Turn CheckpointResults into one :class:`SuiteResult`, separating errored rules from bad data."""
    checks: list[Check] = []
    failures: list[Failure] = []
    validations = [v for outcome in outcomes for v in outcome.run_results.values()]
    for validation in validations:
        for result in validation.results:
            meta = result.expectation_config.meta or {}
            counts = result.result or {}
            checks.append(
                Check(
                    rule=meta.get("rule", result.expectation_config.type),
                    severity=meta.get("severity", CRITICAL),
                    success=bool(result.success),
                    unexpected=counts.get("unexpected_count"),
                )
            )
            if not result.success:
                failures.append(_failure(result))
    failures.sort(key=lambda f: f.error is not None)  # bad data first, rules that could not run last
    return SuiteResult(success=not any(f.blocking for f in failures), checks=checks, failures=failures)


def _failure(result: Any) -> Failure:
    config = result.expectation_config
    meta = config.meta or {}
    pair = [config.kwargs[k] for k in ("column_A", "column_B") if k in config.kwargs]
    ids, rows = _offending_rows(result.result or {})
    return Failure(
        expectation=config.type,
        column=config.kwargs.get("column") or ", ".join(pair) or None,
        severity=meta.get("severity", CRITICAL),
        ids=ids,
        description=config.description or "",
        error=exception_message(result.exception_info),
        rule=meta.get("rule", config.type),
        rows=rows,
    )


def exception_message(info: Any) -> str | None:
    """The message of an expectation that raised, or None. GX returns errors instead of raising them,
    either flat (``{"raised_exception": ...}``) or keyed by metric."""
    if not isinstance(info, dict):
        return None
    if "raised_exception" in info:
        return (info.get("exception_message") or "raised an exception") if info["raised_exception"] else None
    messages = [exception_message(value) for value in info.values()]
    unique = list(dict.fromkeys(m for m in messages if m))
    return "; ".join(unique) or None


def _is_missing(value: Any) -> bool:
    import pandas as pd

    return value is None or (not isinstance(value, (list, dict)) and bool(pd.isna(value)))


def _offending_rows(result: dict) -> tuple[list[str], list[str]]:
    """Ids of the unexpected rows in order, once each (a row with no id is named by its manifest row),
    and the manifest rows themselves, which stay unique even when ids repeat."""
    ids: list[str] = []
    rows: list[str] = []
    for entry in result.get("unexpected_index_list") or []:
        if not isinstance(entry, dict):
            ids.append(str(entry))
            continue
        value = entry.get(ID_COLUMN)
        if _is_missing(value):
            value = f"<no id: {entry.get(ROW_COLUMN, 'unknown row')}>"
        ids.append(str(value))
        if not _is_missing(entry.get(ROW_COLUMN)):
            rows.append(str(entry[ROW_COLUMN]))
    return list(dict.fromkeys(ids)), list(dict.fromkeys(rows))

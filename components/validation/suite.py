"""The data-quality rules for the manifests, as a great-expectations suite defined in code.

The suite is the single owner of "what good data is" (DESIGN.md): it runs over the probed manifest
frame (:func:`components.validation.probe.probe_audio`) in an ephemeral context, so nothing is read
from or written to a ``gx/`` project folder, and every failed expectation names its utterance ids.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.config import ValidateParams
from components.data.manifest import SPLITS

if TYPE_CHECKING:
    import great_expectations as gx
    import pandas as pd

REQUIRED_COLUMNS = ("id", "audio", "language", "text", "duration_s", "sample_rate", "split")
CRITICAL = "critical"
WARNING = "warning"
SUITE_NAME = "speechalign_manifest"
DOCS_SITE_NAME = "speechalign"
ID_COLUMN = "id"
ROW_COLUMN = "manifest_row"  # optional "file row N" locator, used when a row has no usable id
DURATION_ERROR_COLUMN = "duration_error_s"


@dataclass(frozen=True)
class Failure:
    """One expectation that did not pass; ``error`` is set when it could not be evaluated at all."""

    expectation: str
    column: str | None
    severity: str
    ids: list[str] = field(default_factory=list)
    description: str = ""
    error: str | None = None

    @property
    def blocking(self) -> bool:
        """An error is always blocking: an unevaluated rule says nothing about the data."""
        return self.severity == CRITICAL or self.error is not None


@dataclass(frozen=True)
class SuiteResult:
    """The parsed outcome of one suite run."""

    success: bool
    evaluated: int
    failures: list[Failure]


def import_gx() -> Any:
    """Import great_expectations lazily (about 2.5 s), with analytics off unless the user chose."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


def add_helper_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Add columns the built-in expectations can compare, e.g. the manifest-vs-audio duration gap.

    A manifest duration that is missing or not a number, on a file that decodes, gets an infinite gap
    so it fails instead of being skipped as null.
    """
    import numpy as np
    import pandas as pd

    frame = frame.copy()
    claimed = pd.to_numeric(frame.get("duration_s"), errors="coerce") if "duration_s" in frame else np.nan
    measured = pd.to_numeric(frame.get("audio_duration_s"), errors="coerce")
    gap = (claimed - measured).abs()
    frame[DURATION_ERROR_COLUMN] = gap.where(~(measured.notna() & gap.isna()), np.inf)
    return frame


def _meta(severity: str) -> dict[str, str]:
    return {"severity": severity}


def build_expectations(params: ValidateParams, severity: str = CRITICAL) -> list[Any]:
    """Every rule, each with a description that reads well in the data docs and a severity in ``meta``."""
    import_gx()
    import great_expectations.expectations as gxe

    meta = _meta(severity)
    rules: list[Any] = [
        gxe.ExpectTableRowCountToBeBetween(min_value=1, meta=meta, description="manifests are not empty")
    ]
    rules += [
        gxe.ExpectColumnToExist(column=c, meta=meta, description=f"column `{c}` is present")
        for c in REQUIRED_COLUMNS
    ]
    rules += [
        gxe.ExpectColumnValuesToNotBeNull(column=c, meta=meta, description=f"`{c}` is set on every row")
        for c in REQUIRED_COLUMNS
    ]
    rules += [
        gxe.ExpectColumnValuesToBeUnique(column="id", meta=meta, description="utterance ids are unique"),
        gxe.ExpectColumnValueLengthsToBeBetween(
            column="text",
            min_value=params.min_text_chars,
            max_value=params.max_text_chars,
            meta=meta,
            description=f"transcript has {params.min_text_chars}-{params.max_text_chars} characters",
        ),
        gxe.ExpectColumnValuesToMatchRegex(
            column="text", regex=r"\S", meta=meta, description="transcript is not only whitespace"
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="language",
            value_set=list(params.languages),
            meta=meta,
            description=f"language is one of {', '.join(params.languages)}",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="split",
            value_set=list(SPLITS),
            meta=meta,
            description=f"split is one of {', '.join(SPLITS)}",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="sample_rate",
            value_set=[params.sample_rate],
            meta=meta,
            description=f"manifest sample rate is {params.sample_rate} Hz",
        ),
    ]
    rules += _audio_expectations(params, meta)
    return rules


def _audio_expectations(params: ValidateParams, meta: dict[str, str]) -> list[Any]:
    """Rules over the probe columns: the facts about the audio files themselves."""
    import great_expectations.expectations as gxe

    def is_true(column: str, description: str) -> Any:
        return gxe.ExpectColumnValuesToBeInSet(
            column=column, value_set=[True], meta=meta, description=description
        )

    lo, hi, tol = params.min_duration_s, params.max_duration_s, params.duration_tolerance_s
    return [
        is_true("audio_in_root", "audio path is relative and stays inside the data root"),
        is_true("audio_exists", "audio file exists"),
        is_true("audio_decodable", "audio file decodes with soundfile"),
        gxe.ExpectColumnValuesToBeInSet(
            column="audio_sample_rate",
            value_set=[params.sample_rate],
            meta=meta,
            description=f"audio is sampled at {params.sample_rate} Hz",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="audio_channels", value_set=[1], meta=meta, description="audio is mono"
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="audio_duration_s",
            min_value=lo,
            max_value=hi,
            meta=meta,
            description=f"audio lasts {lo}-{hi} s",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column=DURATION_ERROR_COLUMN,
            min_value=0,
            max_value=tol,
            meta=meta,
            description=f"manifest duration_s matches the audio within {tol} s",
        ),
    ]


def build_suite(params: ValidateParams, name: str = SUITE_NAME) -> gx.ExpectationSuite:
    """The suite, not yet attached to a context."""
    gx = import_gx()
    return gx.ExpectationSuite(name=name, expectations=build_expectations(params))


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


def run_suite(frame: pd.DataFrame, params: ValidateParams, docs_dir: Path | None = None) -> SuiteResult:
    """Validate the probed frame; with ``docs_dir``, also render the data docs there."""
    gx = import_gx()
    from great_expectations.checkpoint import UpdateDataDocsAction

    frame = add_helper_columns(frame)
    context = make_context(docs_dir)
    batch = (
        context.data_sources.add_pandas("manifests")
        .add_dataframe_asset("manifest")
        .add_batch_definition_whole_dataframe("all_splits")
    )
    suite = context.suites.add(build_suite(params))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="manifest", data=batch, suite=suite)
    )
    index_columns = [c for c in (ID_COLUMN, ROW_COLUMN) if c in frame.columns]
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="validate",
            validation_definitions=[definition],
            actions=[UpdateDataDocsAction(name="data_docs")] if docs_dir is not None else [],
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": index_columns},
        )
    )
    outcome = checkpoint.run(batch_parameters={"dataframe": frame})
    return parse_results(outcome)


def parse_results(outcome: Any) -> SuiteResult:
    """Turn a CheckpointResult into :class:`SuiteResult`, separating errored rules from bad data."""
    failures: list[Failure] = []
    evaluated = 0
    for validation in outcome.run_results.values():
        for result in validation.results:
            evaluated += 1
            if not result.success:
                failures.append(_failure(result))
    failures.sort(key=lambda f: f.error is not None)  # bad data first, rules that could not run last
    success = not any(f.blocking for f in failures)
    return SuiteResult(success=success, evaluated=evaluated, failures=failures)


def _failure(result: Any) -> Failure:
    config = result.expectation_config
    return Failure(
        expectation=config.type,
        column=config.kwargs.get("column"),
        severity=(config.meta or {}).get("severity", CRITICAL),
        ids=_offending_ids(result.result or {}),
        description=config.description or "",
        error=exception_message(result.exception_info),
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


def _offending_ids(result: dict) -> list[str]:
    """Ids of the unexpected rows, in order, once each; a row with no id is named by its manifest row."""
    ids: list[str] = []
    for entry in result.get("unexpected_index_list") or []:
        if not isinstance(entry, dict):
            ids.append(str(entry))
            continue
        value = entry.get(ID_COLUMN)
        if _is_missing(value):
            value = f"<no id: {entry.get(ROW_COLUMN, 'unknown row')}>"
        ids.append(str(value))
    return list(dict.fromkeys(ids))

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
from components.validation.derived import (
    CHARS_PER_SECOND_COLUMN,
    DUPLICATE_AUDIO_COLUMN,
    DURATION_ERROR_COLUMN,
    SPEAKER_LEAK_COLUMN,
    TRANSCRIPT_LEAK_COLUMN,
)
from components.validation.manifests import ROW_COLUMN, UTF8_COLUMN

if TYPE_CHECKING:
    import great_expectations as gx
    import pandas as pd

REQUIRED_COLUMNS = ("id", "audio", "language", "text", "duration_s", "sample_rate", "split")
CRITICAL = "critical"  # the corpus or its splits are wrong: validation fails
WARNING = "warning"  # only this row is unusable: it is quarantined (validate.max_quarantine_share)
SUITE_NAME = "speechalign_manifest"
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


def import_gx() -> Any:
    """Import great_expectations lazily (about 2.5 s), with analytics off unless the user chose."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


def rule(kind: str, name: str, severity: str, description: str, **kwargs: Any) -> Any:
    """A built-in expectation ``kind`` (e.g. ``ExpectColumnValuesToBeInSet``) named and graded in ``meta``."""
    import great_expectations.expectations as gxe

    return getattr(gxe, kind)(meta={"rule": name, "severity": severity}, description=description, **kwargs)


def is_true(name: str, column: str, severity: str, description: str) -> Any:
    return rule("ExpectColumnValuesToBeInSet", name, severity, description, column=column, value_set=[True])


def build_expectations(params: ValidateParams) -> list[Any]:
    """Every rule, each with a description that reads well in the data docs and a name and severity in
    ``meta``. Critical: the corpus is wrong as a whole. Warning: one row is unusable and is quarantined."""
    import_gx()
    return [
        *_schema_rules(params),
        *_text_rules(params),
        *_leakage_rules(params),
        *_audio_rules(params),
    ]


def _schema_rules(params: ValidateParams) -> list[Any]:
    rules = [
        rule(
            "ExpectTableRowCountToBeBetween", "rows_present", CRITICAL, "manifests are not empty", min_value=1
        )
    ]
    rules += [
        rule("ExpectColumnToExist", f"{c}_present", CRITICAL, f"column `{c}` is present", column=c)
        for c in REQUIRED_COLUMNS
    ]
    rules += [
        rule("ExpectColumnValuesToNotBeNull", f"{c}_set", CRITICAL, f"`{c}` is set on every row", column=c)
        for c in REQUIRED_COLUMNS
    ]
    return [
        *rules,
        rule("ExpectColumnValuesToBeUnique", "id_unique", CRITICAL, "utterance ids are unique", column="id"),
        rule(
            "ExpectColumnValuesToBeInSet",
            "split_known",
            CRITICAL,
            f"split is one of {', '.join(SPLITS)}",
            column="split",
            value_set=list(SPLITS),
        ),
        rule(
            "ExpectColumnValuesToBeInSet",
            "language_known",
            CRITICAL,
            f"language is one of {', '.join(params.languages)}",
            column="language",
            value_set=list(params.languages),
        ),
    ]


def _text_rules(params: ValidateParams) -> list[Any]:
    low, high = params.min_text_chars, params.max_text_chars
    cps_low, cps_high = params.min_chars_per_second, params.max_chars_per_second
    return [
        rule(
            "ExpectColumnValueLengthsToBeBetween",
            "text_length",
            WARNING,
            f"transcript has {low}-{high} characters",
            column="text",
            min_value=low,
            max_value=high,
        ),
        rule(
            "ExpectColumnValuesToMatchRegex",
            "text_not_blank",
            WARNING,
            "transcript holds a letter or digit",
            column="text",
            regex=r"[^\W_]",  # a letter or digit: not only spaces, punctuation, symbols or invisibles
        ),
        is_true("text_utf8", UTF8_COLUMN, WARNING, "manifest line is valid UTF-8"),
        rule(
            "ExpectColumnValuesToBeBetween",
            "chars_per_second",
            WARNING,
            f"transcript length fits the audio: {cps_low}-{cps_high} characters per second",
            column=CHARS_PER_SECOND_COLUMN,
            min_value=cps_low,
            max_value=cps_high,
        ),
    ]


def _leakage_rules(params: ValidateParams) -> list[Any]:
    checks = {
        "transcript_leak": (params.leakage.transcript, TRANSCRIPT_LEAK_COLUMN, "transcript"),
        "speaker_leak": (params.leakage.speaker, SPEAKER_LEAK_COLUMN, "speaker"),
    }
    return [
        rule(
            "ExpectColumnValuesToBeInSet",
            name,
            CRITICAL,
            f"no dev or test row shares its {what} with a train row",
            column=column,
            value_set=[False],
        )
        for name, (enabled, column, what) in checks.items()
        if enabled
    ]


def _audio_rules(params: ValidateParams) -> list[Any]:
    """Rules over the probe columns: the facts about the audio files themselves, under the audio policy."""
    policy = params.audio
    rate, lo, hi = params.sample_rate, params.min_duration_s, params.max_duration_s
    if policy.resample:
        rates = {"min_value": params.min_sample_rate}
        rate_text = (
            f"audio is sampled at {params.min_sample_rate} Hz or more (resampled to {rate} Hz on load)"
        )
    else:
        rates = {"min_value": rate, "max_value": rate}
        rate_text = f"audio is sampled at {rate} Hz (resampling is off)"
    too_long = CRITICAL if policy.too_long == "reject" else WARNING
    rules = [
        is_true(
            "audio_in_root",
            "audio_in_root",
            CRITICAL,
            "audio path is relative and stays inside the data root",
        ),
        is_true("audio_exists", "audio_exists", CRITICAL, "audio file exists"),
        is_true("audio_decodable", "audio_decodable", WARNING, "audio file decodes with soundfile"),
        rule(
            "ExpectColumnValuesToBeBetween",
            "audio_sample_rate",
            CRITICAL,
            rate_text,
            column="audio_sample_rate",
            **rates,
        ),
        rule(
            "ExpectColumnPairValuesToBeEqual",
            "sample_rate_matches",
            CRITICAL,
            "manifest sample_rate is the audio's true rate",
            column_A="sample_rate",
            column_B="audio_sample_rate",
            ignore_row_if="either_value_is_missing",
        ),
        rule(
            "ExpectColumnValuesToBeBetween",
            "audio_too_short",
            WARNING,
            f"audio lasts at least {lo} s",
            column="audio_duration_s",
            min_value=lo,
        ),
        *(
            # None leaves the limit to the encoder: the validate stage fills it in before it gets here
            []
            if hi is None
            else [
                rule(
                    "ExpectColumnValuesToBeBetween",
                    "audio_too_long",
                    too_long,
                    f"audio lasts at most {hi:g} s (over-long audio: {policy.too_long})",
                    column="audio_duration_s",
                    max_value=hi,
                )
            ]
        ),
        rule(
            "ExpectColumnValuesToBeBetween",
            "audio_silent",
            WARNING,
            f"audio is not silent: peak amplitude at least {params.min_peak}",
            column="audio_peak",
            min_value=params.min_peak,
        ),
        rule(
            "ExpectColumnValuesToBeBetween",
            "duration_matches",
            CRITICAL,
            f"manifest duration_s matches the audio within {params.duration_tolerance_s} s",
            column=DURATION_ERROR_COLUMN,
            min_value=0,
            max_value=params.duration_tolerance_s,
        ),
        rule(
            "ExpectColumnValuesToBeNull",
            "audio_unique",
            WARNING,
            "audio content is not a copy of an earlier row's (by sha256)",
            column=DUPLICATE_AUDIO_COLUMN,
        ),
    ]
    if not policy.downmix:
        rules.append(
            rule(
                "ExpectColumnValuesToBeBetween",
                "audio_mono",
                CRITICAL,
                "audio is mono (down-mixing is off)",
                column="audio_channels",
                min_value=1,
                max_value=1,
            )
        )
    return rules


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
    """Validate the probed frame, derived columns added (:mod:`components.validation.derived`); with
    ``docs_dir``, also render the data docs there."""
    gx = import_gx()
    from great_expectations.checkpoint import UpdateDataDocsAction

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
    checks: list[Check] = []
    failures: list[Failure] = []
    for validation in outcome.run_results.values():
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

"""Rows the import left out, validated beside the manifests so one report names every bad row.

The importer records each source row it could not bring in (:mod:`components.data.rejected`) with the
rule it fails, named as the manifest suite names it (``audio_exists``, ``id_unique``, ``text_utf8``, …).
Here they become a second great-expectations validation: one expectation per such rule, "no source row
was rejected for it", graded as the manifest suite grades that rule, so a missing file stops the
pipeline whether the import or the probe found it, and an undecodable one is quarantined either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from components.data.rejected import IMPORT_RULES, RejectedRow
from components.validation.manifests import ROW_COLUMN
from components.validation.rules import CRITICAL, rule

if TYPE_CHECKING:
    import pandas as pd

RULE_COLUMN = "rejected_for"
PROBLEM_COLUMN = "problem"
PREFIX = "import."  # report names: import.audio_exists beside the manifest rule audio_exists

# What only an import can find, graded here; every other rule takes the manifest suite's grade.
IMPORT_ONLY = {
    "row_readable": (CRITICAL, "source rows are well formed (field count, known fields, JSON)"),
    "audio_file_name": (CRITICAL, "source ids map to distinct audio file names"),
}


def rejected_records(rejected: list[RejectedRow]) -> list[dict[str, Any]]:
    """One record per rejected row: its id, where it was read (as :data:`ROW_COLUMN`), split, rule and
    problem; the shape quarantine.jsonl and the suite's frame share."""
    return [
        {
            "id": row.id,
            ROW_COLUMN: row.origin or f"rejected row {number}",
            "split": row.split,
            RULE_COLUMN: row.rule,
            PROBLEM_COLUMN: row.problem,
            **({"audio": row.audio} if row.audio else {}),
        }
        for number, row in enumerate(rejected, start=1)
    ]


def rejected_frame(rejected: list[RejectedRow]) -> pd.DataFrame:
    import pandas as pd

    columns = ["id", ROW_COLUMN, "split", RULE_COLUMN, PROBLEM_COLUMN]
    return pd.DataFrame.from_records(rejected_records(rejected), columns=columns)


def import_expectations(rules: dict[str, tuple[str, str]]) -> list[Any]:
    """One expectation per rule an import can reject a row for, "no source row was rejected for it",
    graded and described as the manifest suite's rule of that name (``rules``: name → (severity,
    description)); and one that every rejection names a known rule, so nothing new passes unseen."""
    expectations = [rule_is_known()]
    for name in IMPORT_RULES:
        severity, description = IMPORT_ONLY.get(name) or rules[name]
        expectations.append(
            rule(
                "ExpectColumnValuesToNotBeInSet",
                PREFIX + name,
                severity,
                f"import: {description}",
                column=RULE_COLUMN,
                value_set=[name],
            )
        )
    return expectations


def rule_is_known() -> Any:
    return rule(
        "ExpectColumnValuesToBeInSet",
        PREFIX + "rule_known",
        CRITICAL,
        "import: every rejected row names a rule this suite grades",
        column=RULE_COLUMN,
        value_set=list(IMPORT_RULES),
    )

"""The summary renders as markdown (the Prefect artifact) and as a terminal table, from results.json alone."""

from __future__ import annotations

from components.validation.render import format_table, render_markdown


def summary(**changes) -> dict:
    base = {
        "success": False,
        "rows": 120,
        "expectations_evaluated": 35,
        "expectations_failed": 2,
        "critical_failed": 1,
        "errors": 0,
        "quarantine": {"rows": 3, "share": 0.025, "max_share": 0.05, "within_limit": True},
        "unexpected": {"language_known": 1, "audio_silent": 3},
        "failures": [
            {
                "rule": "language_known",
                "expectation": "expect_column_values_to_be_in_set",
                "column": "language",
                "severity": "critical",
                "ids": ["a|b"],
                "description": "language is one of eng",
                "error": None,
            },
            {
                "rule": "audio_silent",
                "expectation": "expect_column_values_to_be_between",
                "column": "audio_peak",
                "severity": "warning",
                "ids": [f"utt{i}" for i in range(25)],
                "description": "audio is not silent",
                "error": None,
            },
        ],
    }
    return {**base, **changes}


def test_markdown_names_verdict_quarantine_and_every_failed_rule_with_its_ids() -> None:
    text = render_markdown(summary())
    assert text.startswith("# Data validation failed\n")
    assert "2 of 35 expectations failed on 120 rows" in text
    assert "3 rows quarantined (2.5% of rows, limit 5.0%)" in text
    lines = text.splitlines()
    assert "| severity | rule | expectation | column | offending ids |" in lines
    row = next(line for line in lines if "language_known" in line)
    assert row.startswith("| critical |") and "a\\|b" in row  # a pipe in an id does not break the table
    silent = next(line for line in lines if "audio_silent" in line)
    assert "utt19" in silent and "utt20" not in silent and "(+5 more)" in silent


def test_markdown_of_a_passing_run_has_no_table() -> None:
    text = render_markdown(summary(success=True, expectations_failed=0, critical_failed=0, failures=[]))
    assert text.startswith("# Data validation passed\n") and "|" not in text


def test_markdown_explains_a_failure_by_quarantine_share_alone() -> None:
    quarantine = {"rows": 9, "share": 0.075, "max_share": 0.05, "within_limit": False}
    failures = summary()["failures"][1:]
    text = render_markdown(summary(critical_failed=0, quarantine=quarantine, failures=failures))
    assert "over the limit" in text and "more rows failed them than the quarantine allows" in text


def test_an_errored_rule_says_why_it_could_not_run() -> None:
    errored = dict(summary()["failures"][0], error="column language missing\ntraceback")
    text = render_markdown(summary(failures=[errored]))
    assert "| error |" in text and "could not evaluate: column language missing" in text


def test_terminal_table_aligns_columns_and_names_the_report() -> None:
    table = format_table(summary(), report="reports/validation/index.html")
    head, header, *rows = table.splitlines()
    assert head.startswith("validation FAILED") and head.endswith("(report: reports/validation/index.html)")
    assert header.index("offending ids") == rows[0].index("a|b") == rows[1].index("utt0")

"""The validation summary (``results.json``) as text for people: a terminal table and markdown.

Both read the summary dict, not live objects, so the Prefect flow can render a report from the file a
finished (or failed) ``validate`` stage left behind, without importing great expectations.
"""

from __future__ import annotations

from typing import Any

MAX_IDS_SHOWN = 20


def headline(summary: dict[str, Any]) -> str:
    """One line: the verdict, failed rules and the quarantine against its limit."""
    status = "passed" if summary["success"] else "FAILED"
    line = (
        f"validation {status}: {summary['expectations_failed']} of {summary['expectations_evaluated']} "
        f"expectations failed on {summary['rows']} rows"
    )
    quarantine = summary.get("quarantine")
    if quarantine:
        over = "" if quarantine["within_limit"] else ", over the limit"
        line += (
            f"; {quarantine['rows']} rows quarantined ({quarantine['share']:.1%} of rows, "
            f"limit {quarantine['max_share']:.1%}{over})"
        )
    return line


def severity_label(failure: dict[str, Any]) -> str:
    return "error" if failure.get("error") else failure["severity"]


def ids_cell(failure: dict[str, Any], max_ids: int = MAX_IDS_SHOWN) -> str:
    """The offending ids, at most ``max_ids`` of them; for an errored rule, why it could not run."""
    if failure.get("error"):
        return f"could not evaluate: {failure['error'].splitlines()[0]}"
    ids = failure.get("ids") or []
    if not ids:
        return failure.get("description") or "-"
    more = len(ids) - max_ids
    return ", ".join(ids[:max_ids]) + (f" (+{more} more)" if more > 0 else "")


def failure_cells(failure: dict[str, Any], max_ids: int) -> tuple[str, str, str, str, str]:
    return (
        severity_label(failure),
        failure.get("rule") or "-",
        failure["expectation"],
        failure.get("column") or "-",
        ids_cell(failure, max_ids),
    )


HEADER = ("severity", "rule", "expectation", "column", "offending ids")


def format_table(summary: dict[str, Any], max_ids: int = MAX_IDS_SHOWN, report: str | None = None) -> str:
    """A plain-text table naming each failed expectation and its offending utterance ids."""
    head = headline(summary) + (f" (report: {report})" if report else "")
    if not summary["failures"]:
        return head
    table = [HEADER, *(failure_cells(f, max_ids) for f in summary["failures"])]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER) - 1)]
    lines = [
        "  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)), row[-1]]) for row in table
    ]
    return "\n".join([head, *lines])


def _markdown_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(summary: dict[str, Any], max_ids: int = MAX_IDS_SHOWN) -> str:
    """The summary as markdown, e.g. for a Prefect artifact: verdict, quarantine, then failed rules."""
    verdict = "passed" if summary["success"] else "failed"
    lines = [f"# Data validation {verdict}", "", headline(summary) + "."]
    if summary["failures"]:
        lines += ["", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += [
            "| " + " | ".join(_markdown_cell(cell) for cell in failure_cells(f, max_ids)) + " |"
            for f in summary["failures"]
        ]
    if not summary["success"] and not summary.get("critical_failed"):
        lines += ["", "Every failed rule is a warning, but more rows failed them than the quarantine allows."]
    return "\n".join(lines) + "\n"

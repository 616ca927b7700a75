"""Quarantine: rows failing only warning rules are dropped up to a share; beyond it, validation fails."""

from __future__ import annotations

import json

from components.config import ValidateParams

LENIENT = ValidateParams(max_quarantine_share=0.2)
STRICT_SHARE = ValidateParams(max_quarantine_share=0.05)


def corpus_with_one_unusable_row(corpus) -> None:
    """Eight clean rows and one with an empty transcript (a warning): 1 of 9 rows, 11 %."""
    rows = corpus.clean_rows()
    rows.insert(2, corpus.good("notext", "train", text=""))
    corpus.write(rows)


def test_under_the_share_the_row_is_dropped_and_validation_passes(corpus) -> None:
    from components.data.manifest import read_manifest

    corpus_with_one_unusable_row(corpus)
    outcome = corpus.validate(LENIENT)
    assert outcome.success, outcome.format_table()
    assert outcome.quarantine.count == 1 and outcome.quarantine.within_limit
    assert [u.id for u in read_manifest("train", corpus.validated)] == ["ok0", "ok1", "ok2", "ok3"]
    assert [u.id for u in read_manifest("test", corpus.validated)] == ["ok6", "ok7"]
    dropped = [json.loads(line) for line in (corpus.out / "quarantine.jsonl").read_text().splitlines()]
    assert [(r["id"], r["manifest_row"]) for r in dropped] == [("notext", "train.jsonl:3")]
    assert set(dropped[0]["quarantine_rules"]) == {"text_length", "text_not_blank", "chars_per_second"}
    results = json.loads((corpus.out / "results.json").read_text())
    assert results["quarantine"]["rows"] == 1 and results["quarantine"]["share"] == round(1 / 9, 6)


def test_over_the_share_validation_fails_and_writes_no_validated_manifests(corpus) -> None:
    corpus_with_one_unusable_row(corpus)
    outcome = corpus.validate(STRICT_SHARE)
    assert not outcome.success
    assert not any(f.blocking for f in outcome.failures)
    assert not outcome.quarantine.within_limit
    assert "over the limit" in outcome.format_table()
    assert not corpus.validated.exists()
    assert (corpus.out / "quarantine.jsonl").read_text().count("\n") == 1


def test_a_row_that_also_fails_a_critical_rule_is_not_counted_as_quarantined(corpus) -> None:
    rows = corpus.clean_rows()
    rows.append(corpus.good("both", "dev", text="", language="xxx"))
    corpus.write(rows)
    outcome = corpus.validate(LENIENT)
    assert not outcome.success
    assert outcome.quarantine.count == 0
    assert "both" in outcome.ids_by_rule()["language_known"]


def test_a_duplicate_file_keeps_its_first_copy(corpus) -> None:
    import shutil

    rows = corpus.clean_rows()
    shutil.copy(corpus.root / "audio/ok2.wav", corpus.root / "audio/copy.wav")
    rows.append(corpus.row("copy", "train", 1.5))
    corpus.write(rows)
    outcome = corpus.validate(LENIENT)
    assert outcome.success and list(outcome.quarantine.rules) == ["train.jsonl:5"]

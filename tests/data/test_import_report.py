"""One import and one validation name every bad row of a corpus, whichever of them found it."""

from __future__ import annotations

import json
from pathlib import Path

from components.config import AudioPolicy, CorpusParams, LeakageChecks, ValidateParams
from components.data.importers import import_corpus
from components.data.manifest import MANIFEST_DIR, SPLITS, manifest_path
from components.data.rejected import REJECTED_FILE
from components.validation.report import RESULTS_FILE, run_validation
from tests.data.bad_corpus import BAD_ROWS, MAX_SECONDS, RATE, make_bad_corpus

# what validate reads: nothing resampled or down-mixed, too long is refused, both leakage checks on
STRICT = ValidateParams(
    languages=["eng"],
    max_duration_s=MAX_SECONDS,
    audio=AudioPolicy(resample=False, downmix=False, too_long="reject"),
    leakage=LeakageChecks(transcript=True, speaker=False),
)


def test_one_import_and_one_validation_name_every_bad_row_of_every_kind(tmp_path: Path) -> None:
    source = make_bad_corpus(tmp_path / "corpus")
    data = tmp_path / "data"
    rows, rejected = import_corpus(
        CorpusParams(kind="jsonl", source=str(source)), RATE, data, progress=False, policy=STRICT.audio
    )
    left_out = {row.id for row in rejected}
    assert left_out == {uid for uid, rule in BAD_ROWS.items() if rule.startswith("import.")}
    assert {u.id for u in rows} >= {f"{split}{n}" for split in ("train", "dev", "test") for n in range(3)}
    assert "outside" in {u.id for u in rows}

    manifests = data / MANIFEST_DIR.name
    outcome = run_validation(
        [manifest_path(split, manifests) for split in SPLITS],
        data,
        STRICT,
        tmp_path / "report",
        rejected_path=manifests / REJECTED_FILE,
    )
    assert not outcome.success
    named = outcome.ids_by_rule()
    missed = {uid: rule for uid, rule in BAD_ROWS.items() if uid not in named.get(rule, [])}
    assert not missed, f"not named under their rule: {missed}; report: {named}"
    clean = {f"{split}{n}" for split in ("train", "dev", "test") for n in range(3)} - {"train0"} | {"outside"}
    assert not clean & {uid for ids in named.values() for uid in ids}  # train0 is the leak's partner
    assert outcome.rows == len(rows) + len(rejected)

    results = json.loads((tmp_path / "report" / RESULTS_FILE).read_text(encoding="utf-8"))
    reported = {uid for failure in results["failures"] for uid in failure["ids"]}
    assert set(BAD_ROWS) <= reported
    table = outcome.format_table(max_ids=50)
    assert all(uid in table for uid in BAD_ROWS)
    pages = tmp_path / "report" / "data_docs" / "validations"
    [import_page] = (pages / "speechalign_import").rglob("*.html")  # both validations in the data docs
    [manifest_page] = (pages / "speechalign_manifest").rglob("*.html")
    assert "badutf8" in import_page.read_text(encoding="utf-8")
    assert "rate8k" in manifest_page.read_text(encoding="utf-8")
    quarantined = [
        json.loads(line)
        for line in (tmp_path / "report" / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    # rows left out at import that fail only warning rules are quarantined like any other, with why
    by_id = {row["id"]: row for row in quarantined}
    assert by_id["unreadable"]["quarantine_rules"] == ["import.audio_decodable"]
    assert "cannot decode audio" in by_id["unreadable"]["problem"]
    last_line = len(source.read_bytes().splitlines())  # the builder writes the UTF-8 row last
    assert by_id["badutf8"]["manifest_row"] == f"{source}:{last_line}"


def test_a_clean_import_validates_its_empty_rejected_list_and_passes(tmp_path: Path) -> None:
    from tests.data.layouts import make_jsonl

    source, _ = make_jsonl(tmp_path / "corpus")
    data = tmp_path / "data"
    _, rejected = import_corpus(CorpusParams(kind="jsonl", source=str(source)), RATE, data, progress=False)
    assert rejected == [] and (data / "manifests" / REJECTED_FILE).read_text() == ""
    outcome = run_validation(
        [manifest_path(split, data / "manifests") for split in SPLITS],
        data,
        ValidateParams(languages=["eng", "fra", "deu", "spa"]),
        tmp_path / "report",
        rejected_path=data / "manifests" / REJECTED_FILE,
    )
    assert outcome.success, outcome.format_table()
    import_checks = [c for c in outcome.checks if c.rule.startswith("import.")]
    assert len(import_checks) == 14 and all(c.success for c in import_checks)

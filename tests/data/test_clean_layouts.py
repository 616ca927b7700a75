"""A clean corpus in each import layout passes validation as imported; re-validating it decodes nothing.

Closes the data-layer issue's last "done when": what every importer writes is what the validate stage
accepts (no failed rule, nothing quarantined, validated manifests written), and an unchanged corpus is
validated again from the probe cache alone. The layouts come from :mod:`tests.data.layouts`; the kinds
from the importer registry, so a new importer without a clean layout fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from components.config import CorpusParams, ValidateParams, load_params
from components.data.importers import IMPORTERS, import_corpus
from components.data.manifest import SPLITS, manifest_path, read_rows
from components.validation import probe
from components.validation.probe import ProbeStats
from components.validation.report import ValidationOutcome, run_validation
from components.validation.suite import CRITICAL, WARNING
from tests.data.layouts import BUILDERS, RATE

REPO = Path(__file__).resolve().parents[2]
# Rules a clean layout could break by its content, which must therefore have run, not been left out.
CONTENT_RULES = {
    "language_known",
    "chars_per_second",
    "transcript_leak",
    "speaker_leak",
    "audio_unique",
    "audio_too_short",
    "audio_too_long",
    "duration_matches",
}


def pipeline_params(languages: list[str]) -> ValidateParams:
    """The workspace's validate params, with the corpus's languages and speaker leakage checked too (off in
    params.yaml only because the demo's espeak voices speak in every split), and the duration limit the
    validate stage fills in from the demo's encoder."""
    params = load_params(REPO / "params.yaml")
    raw = params.validate.with_encoder_limit(params.prepare.base_models.tiny_encoder.max_seconds).model_dump()
    return ValidateParams.model_validate(
        {**raw, "languages": languages, "leakage": {"transcript": True, "speaker": True}}
    )


def validate(base: Path, params: ValidateParams) -> ValidationOutcome:
    """The validate stage's own call, on the imported data root, with a probe cache that persists."""
    return run_validation(
        [manifest_path(split, base / "data" / "manifests") for split in SPLITS],
        base / "data",
        params,
        base / "reports",
        cache_dir=base / "probe-cache",
        validated_dir=base / "validated",
    )


def refuse(*args: object) -> None:
    raise AssertionError(f"the probe read audio again: {args}")


@pytest.mark.parametrize("kind", sorted(IMPORTERS))
def test_clean_layout_passes_validation_and_revalidates_from_the_probe_cache(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert kind in BUILDERS, f"importer {kind!r} has no clean layout in tests/data/layouts.py"
    source, expected = BUILDERS[kind](tmp_path / "source")
    rows, rejected = import_corpus(
        CorpusParams(kind=kind, source=str(source)), RATE, tmp_path / "data", progress=False
    )
    assert {row.id for row in rows} == set(expected) and rejected == []
    params = pipeline_params(sorted({language for _, _, language in expected.values()}))

    first = validate(tmp_path, params)
    assert first.success, first.format_table()
    assert [c.rule for c in first.checks if not c.success] == [] and first.failures == []
    assert {c.severity for c in first.checks} == {CRITICAL, WARNING}
    assert {c.rule for c in first.checks} >= CONTENT_RULES
    assert first.quarantine is not None and first.quarantine.count == 0
    assert first.probe == ProbeStats(files=len(rows), hashed=len(rows), decoded=len(rows))
    for split in SPLITS:
        validated = read_rows(tmp_path / "validated" / f"{split}.jsonl")
        assert validated == read_rows(manifest_path(split, tmp_path / "data" / "manifests"))
        assert {row["id"] for row in validated} == {u for u, (s, _, _) in expected.items() if s == split}

    monkeypatch.setattr(probe, "content_hash", refuse)  # unchanged files are neither read nor decoded
    monkeypatch.setattr(probe, "decode_facts", refuse)
    second = validate(tmp_path, params)
    assert second.probe == ProbeStats(files=len(rows), hashed=0, decoded=0)
    assert second.probe.cached == len(rows)
    assert second.summary() == first.summary()

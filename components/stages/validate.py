"""DVC stage ``validate``: probe every audio file and run the data suite; bad data stops the pipeline.

A passing run writes ``data/validated/{split}.jsonl`` (the manifests minus quarantined rows), which the
later stages read instead of ``data/manifests``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from components.atomic import write_json
from components.config import Params
from components.data.manifest import DATA_ROOT, MANIFEST_DIR, SPLITS, manifest_path
from components.data.rejected import REJECTED_FILE
from components.modeling.base_models import encoder_max_seconds, read_sources
from components.stages.runner import run_stage
from components.validation.quarantine import QUARANTINE_FILE
from components.validation.report import RESULTS_FILE, run_validation
from components.workspace import PROBE_CACHE_DIR, VALIDATED_DIR, VALIDATION_DIR, VALIDATION_DOCS_DIR

METRICS = Path("metrics/validation.json")
MAX_IDS_IN_ERROR = 30


def main(params: Params) -> None:
    # unset, the duration limit is what the encoder reads: 30 s for Whisper, not the demo's 10 s
    limits = params.validate.with_encoder_limit(encoder_max_seconds(read_sources().encoder))
    if params.validate.max_duration_s is None:
        print(f"validate: max_duration_s {limits.max_duration_s:g} s, as long as the encoder reads")
    outcome = run_validation(
        [manifest_path(s) for s in SPLITS],
        DATA_ROOT,
        limits,
        VALIDATION_DIR,
        cache_dir=PROBE_CACHE_DIR,
        validated_dir=VALIDATED_DIR,
        rejected_path=MANIFEST_DIR / REJECTED_FILE,  # an import's; the demo corpus has none
        docs_dir=VALIDATION_DOCS_DIR,
    )
    print(outcome.format_table())
    if outcome.probe is not None:
        probe = outcome.probe
        print(
            f"validate: probed {probe.files} audio files: {probe.decoded} decoded, {probe.cached} from cache"
        )
    write_json(METRICS, outcome.summary())
    details = VALIDATION_DIR / RESULTS_FILE
    if not outcome.success:
        blocking = sorted({i for f in outcome.failures if f.blocking for i in f.ids})
        if blocking:
            shown = ", ".join(blocking[:MAX_IDS_IN_ERROR]) + (
                " …" if len(blocking) > MAX_IDS_IN_ERROR else ""
            )
            print(
                f"validate: error: {len(blocking)} bad utterance(s): {shown} (details: {details})",
                file=sys.stderr,
            )
        quarantine = outcome.quarantine
        if quarantine is not None and not quarantine.within_limit:
            print(
                f"validate: error: {quarantine.count} of {outcome.rows} rows ({quarantine.share:.1%}) fail "
                f"warning rules, more than validate.max_quarantine_share ({quarantine.max_share:.1%}); "
                f"they are listed in {VALIDATION_DIR / QUARANTINE_FILE}",
                file=sys.stderr,
            )
        raise SystemExit(1)
    dropped = outcome.quarantine.count if outcome.quarantine else 0
    print(
        f"validate: {outcome.rows - dropped} utterances passed {outcome.evaluated} expectations"
        f" ({dropped} quarantined); validated manifests in {VALIDATED_DIR}"
    )


if __name__ == "__main__":
    run_stage("validate", main)

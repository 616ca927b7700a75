"""DVC stage ``prepare``: demo corpus → manifests and audio; base models built (and taught) or referenced."""

from __future__ import annotations

from pathlib import Path

from components.atomic import atomic_directory, write_json
from components.config import Params
from components.data import demo_grammar as grammar
from components.data.demo_corpus import build_demo_corpus, plan_sentences
from components.data.languages import language_name
from components.data.manifest import MANIFEST_DIR, SPLITS, write_rows
from components.modeling.base_models import prepare_base_models
from components.modeling.prompts import BLSP_TEMPLATE
from components.seeding import seed_everything
from components.stages.runner import run_stage
from components.training.text_skills import teach_demo_llm
from components.workspace import BASE_DIR, METRICS_DIR

AUDIO_DIR = Path("data/audio")
SKILLS_METRICS = METRICS_DIR / "text_skills.json"


def tokenizer_texts(params: Params) -> list[str]:
    """What the demo tokenizer learns from: every word of the grammar and every prompt wording."""
    languages = params.prepare.languages
    texts = [BLSP_TEMPLATE, grammar.SUBJECT_QUESTION, grammar.OBJECT_QUESTION, *grammar.intents()]
    for wordings in params.prepare.text_skills.instructions.by_task().values():
        texts += [w.format(language=language_name(code)) for w in wordings for code in languages]
    lexicon = grammar.lexicon()
    for code in languages:
        texts.append(lexicon["languages"][code]["then"])
        texts += [" ".join(noun[code][0] for noun in lexicon["nouns"])]
        texts += [" ".join(" ".join(adjective[code]) for adjective in lexicon["adjectives"])]
        texts += [" ".join(verb[code] for verb in lexicon["verbs"])]
        texts += [
            " ".join(
                {
                    *lexicon["languages"][code]["article"].values(),
                    *lexicon["languages"][code]["object_article"].values(),
                }
            )
        ]
    return texts


def main(params: Params) -> None:
    prep = params.prepare
    seed_everything(prep.seed)
    sentences = plan_sentences(
        prep.languages, prep.sentences_per_language, prep.dev_share, prep.test_share, prep.seed
    )
    with atomic_directory(AUDIO_DIR) as audio_tmp:
        rows = build_demo_corpus(audio_tmp, sentences, prep.languages, prep.voice_variants, prep.sample_rate)
    for split in SPLITS:
        write_rows(MANIFEST_DIR / f"{split}.jsonl", [r for r in rows if r.split == split])
    skills: dict = {"taught": False}
    with atomic_directory(BASE_DIR) as base_tmp:
        sources = prepare_base_models(
            prep.base_models, tokenizer_texts(params), base_tmp, prep.seed, prep.sample_rate
        )
        if prep.base_models.llm == "tiny":
            skills = {
                "taught": True,
                **teach_demo_llm(
                    base_tmp / sources.llm, sentences, prep.languages, prep.text_skills, prep.seed
                ),
            }
    write_json(SKILLS_METRICS, skills)
    counts = {split: sum(r.split == split for r in rows) for split in SPLITS}
    print(f"prepare: {len(rows)} utterances {counts}; base models in {BASE_DIR}")
    if skills["taught"]:
        print(f"prepare: demo LLM text accuracy on unseen sentences {skills['text_accuracy']}")


if __name__ == "__main__":
    run_stage("prepare", main)

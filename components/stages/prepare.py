"""DVC stage ``prepare``: demo or imported corpus → manifests and audio; base models built or referenced.

With the demo corpus and a tiny LLM, the LLM is also taught the corpus's text tasks, so the demo can
measure transfer rather than noise.
"""

from __future__ import annotations

from pathlib import Path

from components.atomic import atomic_directory, write_json
from components.config import Params
from components.data import demo_grammar as grammar
from components.data.demo_corpus import DemoSentence, build_demo_corpus, plan_sentences
from components.data.importers import import_corpus
from components.data.languages import language_name
from components.data.manifest import MANIFEST_DIR, SPLITS, Utterance, write_rows
from components.modeling.base_models import prepare_base_models
from components.run_records import write_run_record
from components.seeding import seed_everything
from components.stages.runner import run_stage
from components.training.text_skills import teach_demo_llm
from components.workspace import BASE_DIR, METRICS_DIR

AUDIO_DIR = Path("data/audio")
SKILLS_METRICS = METRICS_DIR / "text_skills.json"


def grammar_words(languages: list[str]) -> list[str]:
    """Every word the demo grammar can say, so that each becomes one token."""
    lexicon = grammar.lexicon()
    texts = [grammar.SUBJECT_QUESTION, grammar.OBJECT_QUESTION, *grammar.intents()]
    for code in languages:
        rules = lexicon["languages"][code]
        texts.append(" ".join([rules["then"], *rules["article"].values(), *rules["object_article"].values()]))
        texts.append(" ".join(noun[code][0] for noun in lexicon["nouns"]))
        texts.append(" ".join(" ".join(adjective[code]) for adjective in lexicon["adjectives"]))
        texts.append(" ".join(verb[code] for verb in lexicon["verbs"]))
    return texts


def tokenizer_texts(params: Params, rows: list[Utterance]) -> list[str]:
    """What a tiny LLM's tokenizer learns from: prompt wordings, transcripts and translations."""
    languages = sorted({*params.prepare.languages, *(row.language for row in rows)})
    texts = [params.prepare.base_models.prompt_template]
    for wordings in params.prepare.text_skills.instructions.by_task().values():
        texts += [w.format(language=language_name(code)) for w in wordings for code in languages]
    for row in rows:
        texts.append(row.text)
        texts.extend((row.translation or {}).values())
    if params.prepare.corpus.kind == "demo":
        texts += grammar_words(params.prepare.languages)
    return texts


def demo_corpus(params: Params) -> tuple[list[Utterance], list[DemoSentence]]:
    prep = params.prepare
    sentences = plan_sentences(
        prep.languages, prep.sentences_per_language, prep.dev_share, prep.test_share, prep.seed
    )
    with atomic_directory(AUDIO_DIR) as audio_tmp:
        rows = build_demo_corpus(audio_tmp, sentences, prep.languages, prep.voice_variants, prep.sample_rate)
    for split in SPLITS:
        write_rows(MANIFEST_DIR / f"{split}.jsonl", [r for r in rows if r.split == split])
    return rows, sentences


def main(params: Params) -> None:
    prep = params.prepare
    seed_everything(prep.seed)
    sentences: list[DemoSentence] = []
    if prep.corpus.kind != "demo":
        # audio and manifests, all or nothing; resampled and down-mixed only where validate allows
        rows, rejected = import_corpus(prep.corpus, prep.sample_rate, policy=params.validate.audio)
        if rejected:
            print(
                f"prepare: {len(rejected)} source row(s) not imported ({rejected[0].describe()}"
                f"{', …' if len(rejected) > 1 else ''}); validate reports every one"
            )
    else:
        rows, sentences = demo_corpus(params)
    skills: dict = {"taught": False}
    with atomic_directory(BASE_DIR) as base_tmp:
        sources = prepare_base_models(
            prep.base_models, tokenizer_texts(params, rows), base_tmp, prep.seed, prep.sample_rate
        )
        if prep.base_models.llm == "tiny" and sentences:
            taught = teach_demo_llm(
                base_tmp / sources.llm,
                sentences,
                prep.languages,
                prep.text_skills,
                prep.seed,
                sources.prompt_template,
            )
            skills = {"taught": True, **taught}
    if "seconds" in skills:
        write_run_record("prepare", {"text_skills_seconds": skills.pop("seconds")})
    write_json(SKILLS_METRICS, skills)
    counts = {split: sum(r.split == split for r in rows) for split in SPLITS}
    print(f"prepare: {len(rows)} utterances {counts}; base models in {BASE_DIR}")
    if skills["taught"]:
        print(f"prepare: demo LLM text accuracy on unseen sentences {skills['text_accuracy']}")


if __name__ == "__main__":
    run_stage("prepare", main)

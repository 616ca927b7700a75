"""Teaching the demo LLM: every task is well formed, held-out sentences are never taught."""

from __future__ import annotations

import random

from components.config import TextSkillsParams
from components.data import demo_grammar as grammar
from components.data.demo_corpus import plan_sentences
from components.training.text_skills import (
    available_tasks,
    check_examples,
    sample_examples,
    task_example,
    taught_clauses,
)

CLAUSE = grammar.Clause(subject=0, subject_adjective=1, verb=1, object=2, object_adjective=0)


def test_each_task_pairs_the_sentence_with_its_answer() -> None:
    rng = random.Random(0)
    text = "the green cat chases the red frog"
    assert task_example("repeat", CLAUSE, "eng", ["eng", "spa"], "Repeat.", rng).target == text
    assert task_example("continue", CLAUSE, "eng", ["eng", "spa"], "Go on.", rng).target == (
        "then the red frog pushes the green cat"
    )
    translate = task_example("translate", CLAUSE, "eng", ["eng", "spa"], "Say this in {language}.", rng)
    assert translate.instruction == "Say this in Spanish." and translate.target.startswith("el gato verde")
    assert task_example("intent", CLAUSE, "spa", ["eng", "spa"], "Intent?", rng).target == "movement"
    question = task_example("question", CLAUSE, "eng", ["eng"], "", rng)
    assert question.instruction in (grammar.SUBJECT_QUESTION, grammar.OBJECT_QUESTION)
    assert all(example.text == text for example in (translate, question))


def test_translation_needs_a_second_language() -> None:
    assert "translate" not in available_tasks(["eng"])
    assert "translate" in available_tasks(["eng", "spa"])


def test_sampling_is_seeded_and_uses_the_configured_wordings() -> None:
    params = TextSkillsParams()
    clauses = grammar.sample_clauses(20, random.Random(1))
    first = sample_examples(clauses, ["eng", "spa"], params, 64, random.Random(5))
    assert first == sample_examples(clauses, ["eng", "spa"], params, 64, random.Random(5))
    known = {w for ws in params.instructions.by_task().values() for w in ws}
    known |= {
        w.format(language=name) for w in params.instructions.translate for name in ("English", "Spanish")
    }
    known |= {grammar.SUBJECT_QUESTION, grammar.OBJECT_QUESTION}
    assert {e.instruction for e in first} <= known


def test_dev_and_test_sentences_are_never_taught() -> None:
    corpus = plan_sentences(["eng", "spa"], 30, dev_share=0.2, test_share=0.2, seed=0)
    taught = taught_clauses(corpus, extra=500, seed=0)
    held_out = {s.clause for s in corpus if s.split != "train"}
    assert held_out and not held_out & set(taught)
    assert {s.clause for s in corpus if s.split == "train"} <= set(taught)
    assert len(taught) == len(set(taught))


def test_the_check_covers_every_task_on_every_held_out_sentence() -> None:
    clauses = grammar.sample_clauses(4, random.Random(2))
    examples = check_examples(clauses, ["eng", "spa"], TextSkillsParams())
    assert len(examples) == 4 * len(available_tasks(["eng", "spa"]))

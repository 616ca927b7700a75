"""The demo grammar: exact translations, agreement, intents, and continuations that need every word."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from components.data import demo_grammar as grammar
from components.data.demo_corpus import plan_sentences
from components.data.demo_grammar import Clause

CLAUSE = Clause(subject=0, subject_adjective=1, verb=1, object=2, object_adjective=0)


def test_one_clause_renders_in_every_language() -> None:
    assert grammar.render(CLAUSE, "eng") == "the green cat chases the red frog"
    assert grammar.render(CLAUSE, "spa") == "el gato verde persigue a la rana roja"
    assert grammar.render(CLAUSE, "fra") == "le chat vert chasse la grenouille rouge"


def test_adjectives_agree_with_the_noun_gender() -> None:
    feminine = replace(CLAUSE, subject=2, subject_adjective=1, object=0)  # la rana / la grenouille
    assert grammar.render(feminine, "fra").startswith("la grenouille verte ")
    assert grammar.render(feminine, "spa").endswith(" al gato rojo")


def test_intent_is_the_class_of_the_verb() -> None:
    assert grammar.intent(CLAUSE) == "movement"
    assert grammar.intent(replace(CLAUSE, verb=3)) == "perception"
    assert set(grammar.intents()) == {"movement", "perception", "contact", "emotion"}


@pytest.mark.parametrize(
    "change",
    [
        {"subject": 5},
        {"subject_adjective": 4},
        {"subject_adjective": None},
        {"verb": 7},
        {"object": 9},
        {"object_adjective": 6},
    ],
)
def test_the_continuation_depends_on_every_word(change: dict) -> None:
    """A continuation that ignored a word would let the adapter drop it and still fit its target."""
    for language in ("eng", "spa"):
        assert grammar.continuation(replace(CLAUSE, **change), language) != grammar.continuation(
            CLAUSE, language
        )


def test_questions_are_answered_by_the_clause_roles() -> None:
    assert grammar.subject_phrase(CLAUSE, "spa") == "el gato verde"
    assert grammar.object_phrase(CLAUSE, "spa") == "la rana roja"


def test_sampled_clauses_are_distinct_and_respect_the_exclusions() -> None:
    first = grammar.sample_clauses(50, random.Random(0))
    assert len(set(first)) == 50
    again = grammar.sample_clauses(50, random.Random(0), exclude=frozenset(first[:10]))
    assert not set(again) & set(first[:10])
    assert all(c.subject != c.object for c in first)


def test_a_sentence_is_spoken_in_one_language_and_one_split() -> None:
    sentences = plan_sentences(["eng", "spa"], 40, dev_share=0.1, test_share=0.2, seed=3)
    assert len({s.clause for s in sentences}) == len(sentences) == 80
    for language in ("eng", "spa"):
        splits = [s.split for s in sentences if s.language == language]
        assert splits.count("test") == 8 and splits.count("dev") == 4
    assert plan_sentences(["eng", "spa"], 40, 0.1, 0.2, seed=3) == sentences


def test_an_unknown_demo_language_is_named() -> None:
    with pytest.raises(ValueError, match="deu"):
        plan_sentences(["eng", "deu"], 4, 0.25, 0.25, seed=0)

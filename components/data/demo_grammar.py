"""The demo corpus's grammar: small clauses rendered in every demo language from one lexicon.

"the green cat chases the red frog" / "el gato verde persigue a la rana roja" / "le chat vert chasse
la grenouille rouge". A clause is language-free (indices into the lexicon), so every rendering is an
exact translation of the others, its intent is the class of its verb, and its continuation swaps the
roles and maps the verb, so that continuing a sentence needs every one of its words.
A vocabulary of about forty words per language is what a tiny LLM learns to near-perfection on two
CPU cores, which is what lets the demo measure transfer rather than noise.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

VERB_SHIFT = 5  # the continuation's verb: a fixed permutation of the verbs, across intent classes
SUBJECT_QUESTION = "Who does it?"
OBJECT_QUESTION = "Who is it done to?"


@dataclass(frozen=True)
class Clause:
    """Subject (noun, adjective or None), verb, object (noun, adjective or None): lexicon indices."""

    subject: int
    subject_adjective: int | None
    verb: int
    object: int
    object_adjective: int | None


@cache
def lexicon() -> dict[str, Any]:
    return json.loads(resources.files("components.data").joinpath("demo_lexicon.json").read_text("utf-8"))


def demo_languages() -> list[str]:
    return sorted(lexicon()["languages"])


def check_languages(languages: list[str]) -> None:
    unknown = sorted(set(languages) - set(demo_languages()))
    if unknown:
        raise ValueError(
            f"prepare.languages: the demo grammar has no {unknown}; choose from {demo_languages()}"
        )


def noun_phrase(noun: int, adjective: int | None, language: str, as_object: bool) -> str:
    """Article, noun and adjective in the language's order, the adjective agreeing with the noun."""
    rules = lexicon()["languages"][language]
    word, gender = lexicon()["nouns"][noun][language]
    article = rules["object_article" if as_object else "article"][gender]
    if adjective is None:
        return f"{article} {word}"
    masculine, feminine = lexicon()["adjectives"][adjective][language]
    adjective_word = feminine if gender == "f" else masculine
    if rules["adjective_first"]:
        return f"{article} {adjective_word} {word}"
    return f"{article} {word} {adjective_word}"


def render(clause: Clause, language: str) -> str:
    """The clause as a lower-case sentence without punctuation."""
    verb = lexicon()["verbs"][clause.verb][language]
    subject = noun_phrase(clause.subject, clause.subject_adjective, language, as_object=False)
    obj = noun_phrase(clause.object, clause.object_adjective, language, as_object=True)
    return f"{subject} {verb} {obj}"


def continuation(clause: Clause, language: str) -> str:
    """What happens next: the roles swap and the verb maps, so every word of the clause matters."""
    then = lexicon()["languages"][language]["then"]
    swapped = Clause(
        subject=clause.object,
        subject_adjective=clause.object_adjective,
        verb=(clause.verb + VERB_SHIFT) % len(lexicon()["verbs"]),
        object=clause.subject,
        object_adjective=clause.subject_adjective,
    )
    return f"{then} {render(swapped, language)}"


def intent(clause: Clause) -> str:
    return lexicon()["verbs"][clause.verb]["intent"]


def intents() -> list[str]:
    return sorted({verb["intent"] for verb in lexicon()["verbs"]})


def subject_phrase(clause: Clause, language: str) -> str:
    """The answer to "who does it?"."""
    return noun_phrase(clause.subject, clause.subject_adjective, language, as_object=False)


def object_phrase(clause: Clause, language: str) -> str:
    """The answer to "to whom is it done?", with the subject's article (no Spanish personal "a")."""
    return noun_phrase(clause.object, clause.object_adjective, language, as_object=False)


def sample_clause(rng: random.Random, adjective_rate: float = 0.6) -> Clause:
    nouns, adjectives, verbs = (len(lexicon()[key]) for key in ("nouns", "adjectives", "verbs"))
    subject, obj = rng.sample(range(nouns), 2)

    def adjective() -> int | None:
        return rng.randrange(adjectives) if rng.random() < adjective_rate else None

    return Clause(subject, adjective(), rng.randrange(verbs), obj, adjective())


def sample_clauses(count: int, rng: random.Random, exclude: frozenset[Clause] = frozenset()) -> list[Clause]:
    """``count`` distinct clauses, none of them in ``exclude``, in a seeded order."""
    chosen: dict[Clause, None] = {}
    while len(chosen) < count:
        clause = sample_clause(rng)
        if clause not in exclude:
            chosen.setdefault(clause)
    return list(chosen)

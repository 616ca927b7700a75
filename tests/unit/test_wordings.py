"""Wordings and the text ceiling are chosen from dev transcripts alone, and a task the LLM cannot do
from text is reported as such, not scored."""

from __future__ import annotations

import pytest

from components.config import EvaluateParams
from components.data.manifest import Utterance


def dev_row(index: int, text: str, translation: str | None = None) -> Utterance:
    return Utterance(
        id=f"dev_{index:03d}",
        audio=f"audio/{index}.wav",
        language="eng",
        text=text,
        duration_s=1.0,
        sample_rate=16000,
        split="dev",
        translation={"spa": translation} if translation else None,
    )


DEV = [
    dev_row(i, t, tr)
    for i, (t, tr) in enumerate([("the cat", "el gato"), ("a dog", "un perro"), ("hi", None)])
]


@pytest.fixture
def fake_llm(monkeypatch):
    """An LLM that repeats its input under "Say it exactly." and translates only under one wording."""
    from components.evaluation import wordings

    seen: list[list[object]] = []
    translations = {u.text: (u.translation or {}).get("spa") for u in DEV}

    def generate(model, instructions, inputs, params, limits=None):
        seen.append(list(inputs))
        out = []
        for instruction, text in zip(instructions, inputs, strict=True):
            if instruction == "Say it exactly.":
                out.append(text)
            elif instruction == "Put it in Spanish, only that.":
                out.append(translations[text])
            else:
                out.append("I am sorry, what?")
        return out

    monkeypatch.setattr(wordings, "generate_by_length", generate)
    return seen


def test_the_best_wording_on_dev_text_wins_and_speech_is_never_read(fake_llm) -> None:
    from components.evaluation.wordings import choose_wordings, chosen_params, unmeasurable_tasks

    params = EvaluateParams(
        asr_instruction="Repeat the speech.",
        wording_candidates={"asr": ["Say it exactly.", "Echo."], "st": ["Put it in {language}, only that."]},
        wording_rows=2,
    )
    choices = choose_wordings(None, DEV, params, training_instructions={"Echo."})
    assert choices["asr"].chosen == "Say it exactly." and choices["asr"].ceiling == 0.0
    assert set(choices["asr"].scores) == {
        "Repeat the speech.",
        "Say it exactly.",
    }  # a trained wording is skipped
    assert choices["asr"].rows == 2 and choices["st"].rows == 2
    assert choices["st"].chosen == "Put it in {language}, only that." and choices["st"].ceiling > 90
    assert all(isinstance(x, str) for inputs in fake_llm for x in inputs)  # transcripts only
    assert {x for inputs in fake_llm for x in inputs} <= {u.text for u in DEV}
    assert not unmeasurable_tasks(choices)
    assert chosen_params(params, choices).asr_instruction == "Say it exactly."
    assert chosen_params(params, choices).st_instruction == "Put it in {language}, only that."


def test_a_task_below_its_text_bar_is_not_measurable(fake_llm) -> None:
    from components.evaluation.wordings import choose_wordings, format_choices, unmeasurable_tasks

    params = EvaluateParams(
        wording_candidates={"asr": ["Say it exactly."]},
        text_ceiling_bar={"asr": 0.5, "st": 30.0},
    )
    choices = choose_wordings(None, DEV, params, training_instructions=set())
    assert choices["asr"].measurable and not choices["st"].measurable  # no wording makes it translate
    assert unmeasurable_tasks(choices) == {"st"}
    lines = format_choices(choices)
    assert any("st:" in line and "NOT MEASURABLE" in line for line in lines)


def test_a_task_without_dev_rows_is_left_out(fake_llm) -> None:
    from components.evaluation.wordings import choose_wordings

    params = EvaluateParams(wording_candidates={"intent": ["What does the speaker want?"]})
    assert choose_wordings(None, DEV, params, training_instructions=set()) == {}


def test_every_language_has_its_turn_in_the_dev_rows() -> None:
    from components.evaluation.wordings import dev_rows

    rows = [dev_row(i, f"english {i}") for i in range(5)]
    rows += [dev_row(10 + i, f"spanish {i}").model_copy(update={"language": "spa"}) for i in range(5)]
    picked = dev_rows(rows, "asr", 4)
    assert [u.language for u, _ in picked] == ["eng", "spa", "eng", "spa"]
    assert [u.id for u, _ in picked] == ["dev_000", "dev_010", "dev_001", "dev_011"]


def test_a_wording_trained_once_filled_in_is_skipped(fake_llm) -> None:
    from components.evaluation.wordings import choose_wordings

    params = EvaluateParams(wording_candidates={"st": ["Put it in {language}, only that."]})
    choices = choose_wordings(None, DEV, params, training_instructions={"Put it in Spanish, only that."})
    assert list(choices["st"].scores) == [params.st_instruction]
    everything = {"Put it in Spanish, only that.", "Translate the following speech into Spanish."}
    with pytest.raises(ValueError, match="every st wording"):
        choose_wordings(None, DEV, params, training_instructions=everything)


def test_an_st_candidate_needs_the_language_slot() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="has no {language}"):
        EvaluateParams(wording_candidates={"st": ["Translate it."]})

"""Target builders of the recipes, with a fake LLM whose output is a function of its prompt."""

from __future__ import annotations

from collections import Counter

import pytest

from components.config import EvaluateParams
from components.data.languages import language_name
from components.data.manifest import Utterance
from components.targets.continuation import continuation_targets
from components.targets.multi_instruction import multi_instruction_targets
from components.targets.rows import asr_targets, transcript_rows
from components.targets.task_data import task_targets
from components.targets.templates import instruction_templates, task_instructions

ROW_KEYS = {"id", "task", "instruction", "target", "source", "generator"}
LANGUAGES = ["eng", "spa", "fra"]
REPEAT = "Repeat the following speech word for word."


class FakeLLM:
    """Answers ``instruction => text``, or nothing for instructions ``silent`` picks; records batches."""

    template = "fake template"

    def prompt_record(self) -> dict[str, str]:
        return {"layout": "prompt_template", "template": self.template}

    def __init__(self, silent=lambda instruction: False) -> None:
        self.silent = silent
        self.batches: list[list[tuple[str, str]]] = []

    def text_slots(self, texts):
        return list(texts)

    def generate(self, instructions, slots, max_new_tokens):
        self.batches.append(list(zip(instructions, slots, strict=True)))
        return ["" if self.silent(i) else f"{i} => {t}" for i, t in zip(instructions, slots, strict=True)]


def utterance(uid: str, language: str, text: str, **labels) -> Utterance:
    return Utterance(
        id=uid,
        audio=f"audio/{uid}.wav",
        language=language,
        text=text,
        duration_s=1.0,
        sample_rate=16000,
        split="train",
        **labels,
    )


UTTERANCES = [
    utterance("eng_0", "eng", "the green cat chases the red frog"),
    utterance("spa_0", "spa", "el gato verde persigue a la rana roja"),
    utterance("fra_0", "fra", "le chat vert chasse la grenouille"),
    utterance("eng_1", "eng", "the dog sees"),
]


def mi(variant="tmi", n=3, seed=0, utterances=UTTERANCES, model=None, languages=LANGUAGES, **kwargs):
    return multi_instruction_targets(
        model or FakeLLM(),
        utterances,
        variant,
        n,
        REPEAT,
        languages,
        max_new_tokens=16,
        batch_size=3,
        seed=seed,
        generator_id="fake-llm",
        progress=False,
        **kwargs,
    )


# -- BLOOMZMMS: T, MI, TMI ------------------------------------------------------------------------------


def test_variants_give_transcript_rows_llm_rows_or_both() -> None:
    t, only_mi, both = mi("t").rows, mi("mi").rows, mi("tmi").rows
    assert len(t) == len(UTTERANCES) and len(only_mi) == 3 * len(UTTERANCES)
    assert both == t + only_mi
    for row in t:
        assert row["task"] == "transcribe" and row["source"] == "transcript" and row["generator"] is None
        assert row["instruction"] == REPEAT
    texts = {u.id: u.text for u in UTTERANCES}
    assert [r["target"] for r in t] == [u.text for u in UTTERANCES]
    for row in only_mi:
        assert set(row) == ROW_KEYS and row["source"] == "instruction"
        # the LLM read the row's instruction with the transcript in the slot
        assert row["target"] == f"{row['instruction']} => {texts[row['id']]}"
        assert row["task"] in instruction_templates()
        assert row["generator"] == {
            "model": "fake-llm",
            "prompt": {"layout": "prompt_template", "template": "fake template"},
            "instruction_template": row["generator"]["instruction_template"],
            "do_sample": False,
            "num_beams": 1,
            "max_new_tokens": 16,
        }
        assert row["generator"]["instruction_template"] in instruction_templates()[row["task"]]
    with pytest.raises(ValueError, match="variant"):
        mi("x")


def test_t_rows_need_no_model() -> None:
    assert mi("t", model=object()).rows == transcript_rows(UTTERANCES, REPEAT, "transcribe")


def test_draws_are_seeded_per_utterance_and_distinct() -> None:
    rows = mi("mi", n=5).rows
    assert rows == mi("mi", n=5).rows
    assert rows != mi("mi", n=5, seed=1).rows
    alone = mi("mi", n=5, utterances=UTTERANCES[1:2]).rows
    assert alone == [r for r in rows if r["id"] == "spa_0"], "an utterance draws the same in any company"
    for uid in {u.id for u in UTTERANCES}:
        templates = [r["generator"]["instruction_template"] for r in rows if r["id"] == uid]
        assert len(templates) == len(set(templates)) == 5


def test_empty_answers_are_dropped_and_counted() -> None:
    silent = FakeLLM(silent=lambda instruction: "title" in instruction.lower())
    full, some = mi("mi", n=20), mi("mi", n=20, model=silent)
    dropped = [r for r in full.rows if "title" in r["instruction"].lower()]
    assert dropped and some.empty == len(dropped) and full.empty == 0
    assert some.rows == [r for r in full.rows if r not in dropped]


def test_translation_templates_never_ask_for_the_utterances_own_language() -> None:
    pool = instruction_templates()
    everything = sum(len(templates) for templates in pool.values())
    rows = mi("mi", n=everything).rows  # every template, so every translate template, for each utterance
    language_of = {u.id: u.language for u in UTTERANCES}
    translate = [r for r in rows if r["task"] == "translate"]
    assert len(translate) == len(pool["translate"]) * len(UTTERANCES)
    for row in translate:
        named = {code for code in LANGUAGES if language_name(code) in row["instruction"]}
        assert len(named) == 1 and language_of[row["id"]] not in named, row["instruction"]
    # a corpus in one language has nothing to translate into: those templates are not drawn
    english = [u for u in UTTERANCES if u.language == "eng"]
    alone = mi("mi", n=everything - len(pool["translate"]), utterances=english, languages=["eng"]).rows
    assert not [r for r in alone if r["task"] == "translate"]
    with pytest.raises(ValueError, match="only 198 templates apply"):
        mi("mi", n=everything, utterances=english, languages=["eng"])


def test_generation_runs_longest_prompt_first_in_fixed_batches() -> None:
    model = FakeLLM()
    mi("mi", n=2, model=model)
    lengths = [len(i) + len(t) for batch in model.batches for i, t in batch]
    assert lengths == sorted(lengths, reverse=True)
    assert [len(batch) for batch in model.batches] == [3, 3, 2]


# -- BLSP continuations share the generation helper -----------------------------------------------------


def test_continuations_are_one_row_per_utterance_in_manifest_order() -> None:
    model = FakeLLM(silent=lambda instruction: False)
    rows = continuation_targets(model, UTTERANCES, "Continue.", 8, 3, "fake-llm", progress=False)
    assert [r["id"] for r in rows] == [u.id for u in UTTERANCES]
    assert [r["target"] for r in rows] == [f"Continue. => {u.text}" for u in UTTERANCES]
    assert model.batches[0][0][1] == max((u.text for u in UTTERANCES), key=len)
    assert all(
        r["source"] == "continuation" and r["generator"]["prompt"]["template"] == "fake template"
        for r in rows
    )


# -- Wav2Prompt: transcripts ----------------------------------------------------------------------------


def test_asr_targets_are_transcript_rows() -> None:
    rows = asr_targets(UTTERANCES, REPEAT)
    assert rows == transcript_rows(UTTERANCES, REPEAT, "asr")
    assert [(r["task"], r["source"], r["generator"], r["target"]) for r in rows] == [
        ("asr", "transcript", None, u.text) for u in UTTERANCES
    ]


# -- SpeechVerse: labelled tasks ------------------------------------------------------------------------

RICH = utterance(
    "eng_9",
    "eng",
    "the cat chases the frog",
    translation={"spa": "el gato persigue a la rana", "fra": "le chat chasse la grenouille", "deu": "x"},
    intent="pursuit",
    question="Who does it?",
    answer="the cat",
)


def test_each_task_takes_its_target_from_its_own_field() -> None:
    rows = task_targets([RICH, UTTERANCES[3]], LANGUAGES, seed=0)
    assert {(r["id"], r["task"], r["target"], r["source"]) for r in rows} == {
        ("eng_9", "asr", "the cat chases the frog", "transcript"),
        ("eng_9", "st", "el gato persigue a la rana", "instruction"),
        ("eng_9", "st", "le chat chasse la grenouille", "instruction"),  # deu is not a corpus language
        ("eng_9", "intent", "pursuit", "instruction"),
        ("eng_9", "qa", "the cat", "instruction"),
        ("eng_1", "asr", "the dog sees", "transcript"),
    }
    assert len(rows) == 6 and all(set(r) == ROW_KEYS and r["generator"] is None for r in rows)
    pool = task_instructions()
    by_target = {r["target"]: r["instruction"] for r in rows}
    assert "Spanish" in by_target["el gato persigue a la rana"]
    assert "French" in by_target["le chat chasse la grenouille"]
    assert "Who does it?" in by_target["the cat"] and by_target["the cat"] != "Who does it?"
    assert by_target["pursuit"] in pool["intent"] and by_target["the dog sees"] in pool["asr"]


def test_paraphrases_are_seeded() -> None:
    many = [utterance(f"eng_{i}", "eng", f"sentence {i}", intent="pursuit") for i in range(40)]
    rows = task_targets(many, LANGUAGES, seed=0)
    assert rows == task_targets(many, LANGUAGES, seed=0)
    assert rows != task_targets(many, LANGUAGES, seed=1)
    assert len(Counter(r["instruction"] for r in rows if r["task"] == "asr")) > 5


def test_evaluation_wordings_are_excluded_and_an_emptied_task_is_refused() -> None:
    pool = task_instructions()
    many = [RICH.model_copy(update={"id": f"eng_{i}"}) for i in range(60)]
    excluded = {pool["asr"][0], pool["intent"][3], pool["st"][1].format(language="Spanish")}
    rows = task_targets(many, LANGUAGES, seed=0, exclude=excluded)
    used = {r["instruction"] for r in rows}
    assert not used & excluded
    assert not {pool["st"][1].format(language=name) for name in ("Spanish", "French")} & used
    assert {pool["asr"][1], pool["intent"][0]} <= used, "other wordings remain in use"
    with pytest.raises(ValueError, match="leaves no intent instruction"):
        task_targets(many, LANGUAGES, seed=0, exclude=set(pool["intent"]))


def test_evaluation_queries_and_training_labels_enumerate_the_same_tasks() -> None:
    from components.evaluation.zero_shot import build_queries

    params = EvaluateParams()
    queries = build_queries([RICH], params)
    assert [(q.task, q.instruction, q.reference, q.group) for q in queries] == [
        ("asr", params.asr_instruction, RICH.text, "eng"),
        ("st", params.st_instruction.format(language="German"), "x", "eng-deu"),
        ("st", params.st_instruction.format(language="French"), "le chat chasse la grenouille", "eng-fra"),
        ("st", params.st_instruction.format(language="Spanish"), "el gato persigue a la rana", "eng-spa"),
        ("intent", params.intent_instruction, "pursuit", "eng"),
        ("qa", "Who does it?", "the cat", "eng"),
    ]
    rows = task_targets([RICH], [*LANGUAGES, "deu"], seed=0)
    assert [(r["task"], r["target"]) for r in rows] == [(q.task, q.reference) for q in queries]
    unseen = {params.asr_instruction, params.st_instruction, params.intent_instruction}
    assert not unseen & {r["instruction"] for r in task_targets([RICH], LANGUAGES, 0, exclude=unseen)}


def test_the_real_model_writes_mi_targets_through_its_own_splice(tiny_model) -> None:
    result = mi("tmi", n=2, utterances=UTTERANCES[:2], model=tiny_model)
    assert len(result.rows) + result.empty == 2 + 2 * 2
    # the record names the layout really used: the tiny LLM has no chat template, so the template
    assert all(
        r["generator"]["prompt"] == {"layout": "prompt_template", "template": tiny_model.template}
        for r in result.rows
        if r["generator"]
    )

"""The packaged instruction pools: their size, their placeholders, and the errors a bad entry raises."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from components.targets.templates import (
    TASK_RULES,
    TEMPLATE_RULES,
    check_pool,
    instruction_templates,
    placeholders,
    task_instructions,
)


def test_template_pool_has_at_least_200_templates_over_at_least_8_task_types() -> None:
    pool = instruction_templates()
    assert sum(len(templates) for templates in pool.values()) >= 200
    assert len(pool) >= 8
    assert {"translate", "summarise", "question", "title", "keywords", "sentiment"} <= set(pool)
    for task, templates in pool.items():
        for template in templates:
            assert placeholders(template) == ({"language"} if task == "translate" else set()), template


def test_task_instructions_have_at_least_10_paraphrases_per_task_with_their_placeholders() -> None:
    pool = task_instructions()
    assert set(pool) == {"asr", "st", "intent", "qa"}
    wanted = {"asr": set(), "st": {"language"}, "intent": set(), "qa": {"question"}}
    for task, wordings in pool.items():
        assert len(wordings) >= 10, task
        assert all(placeholders(w) == wanted[task] for w in wordings), task


def test_every_wording_is_unique_across_both_pools() -> None:
    pools = (instruction_templates(), task_instructions())
    wordings = [w for pool in pools for ws in pool.values() for w in ws]
    assert len({" ".join(w.lower().split()) for w in wordings}) == len(wordings)


def test_the_pools_ship_in_the_package() -> None:
    pyproject = tomllib.loads(Path(__file__).parents[2].joinpath("pyproject.toml").read_text("utf-8"))
    assert "*.json" in pyproject["tool"]["setuptools"]["package-data"]["components.targets"]


def pool_of(**tasks: list[str]) -> dict[str, list[str]]:
    return {name: list(wordings) for name, wordings in tasks.items()}


SMALL = TEMPLATE_RULES.__class__(min_total=3, min_tasks=2, placeholders=TEMPLATE_RULES.placeholders)


@pytest.mark.parametrize(
    ("pool", "message"),
    [
        (pool_of(title=["Name it.", "name  IT."], translate=["Into {language}."]), r"title\[1\].*duplicate"),
        (pool_of(title=["Name it.", " "], translate=["Into {language}."]), r"title\[1\].*empty"),
        (pool_of(title=["Name it for {person}.", "b"], translate=["In {language}."]), r"\['person'\]"),
        (pool_of(title=["Name it in {language}.", "b"], translate=["In {language}."]), r"title\[0\]"),
        (pool_of(title=["Name it.", "b"], translate=["Translate it."]), r"translate\[0\].*missing"),
        (pool_of(title=["Name {it.", "b"], translate=["In {language}."]), r"title\[0\]"),
        (pool_of(title=["Name it.", "b"], translate=["{language}"]), r"nothing but placeholders"),
        (pool_of(title=["Name it."], translate=["In {language}."]), r"2 wordings, at least 3"),
        (pool_of(title=["Name it.", "b", "c"]), r"1 task types, at least 2"),
        (["Name it."], r"expected an object"),
    ],
)
def test_a_bad_pool_entry_is_named(pool: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_pool(pool, "pool.json", SMALL)


def test_the_task_pool_needs_its_four_tasks_and_ten_wordings_each() -> None:
    good = {task: list(wordings) for task, wordings in task_instructions().items()}
    with pytest.raises(ValueError, match="task types"):
        check_pool({**good, "summary": good["asr"]}, "tasks.json", TASK_RULES)
    with pytest.raises(ValueError, match="'intent' has 9 wordings, at least 10"):
        check_pool({**good, "intent": good["intent"][:9]}, "tasks.json", TASK_RULES)

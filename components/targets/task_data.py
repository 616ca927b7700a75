"""SpeechVerse targets: the manifest's own labels (transcript, translations, intent, answers).

Each labelled task is asked with a paraphrase drawn per utterance, so the adapter learns the task and
not one wording. The evaluation's wordings are excluded, so zero-shot evaluation stays unseen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from typing import Any

from components.data.languages import language_name
from components.data.manifest import Utterance, task_labels
from components.seeding import keyed_rng
from components.targets.rows import target_row
from components.targets.templates import LANGUAGE, placeholders, task_instructions


def unseen_wordings(
    pool: Mapping[str, Sequence[str]], languages: Sequence[str], exclude: Set[str]
) -> dict[str, tuple[str, ...]]:
    """Each task's paraphrases minus those in ``exclude``, as written or with a language filled in."""

    def excluded(wording: str) -> bool:
        if wording in exclude:
            return True
        return LANGUAGE in placeholders(wording) and any(
            wording.format(language=language_name(code)) in exclude for code in languages
        )

    allowed = {task: tuple(w for w in wordings if not excluded(w)) for task, wordings in pool.items()}
    emptied = sorted(task for task, wordings in allowed.items() if not wordings)
    if emptied:
        raise ValueError(
            f"task_targets: excluding the evaluation wordings leaves no {emptied[0]} instruction"
        )
    return allowed


def task_targets(
    utterances: Sequence[Utterance],
    languages: Sequence[str],
    seed: int,
    exclude: Set[str] = frozenset(),
    pool: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """One row per task each utterance supports; translation only into ``languages``.

    ASR rows are ``transcript`` rows; translation, intent and QA are ``instruction`` rows. All
    targets come from the manifest, so no row has a generator. ``pool`` defaults to the packaged one.
    """
    allowed = unseen_wordings(task_instructions() if pool is None else pool, languages, exclude)
    rows = []
    for utt in utterances:
        rng = keyed_rng(seed, utt.id)
        for label in task_labels(utt):
            if label.task == "st" and label.target_language not in languages:
                continue
            instruction = label.instruction(rng.choice(allowed[label.task]))
            source = "transcript" if label.task == "asr" else "instruction"
            rows.append(target_row(utt.id, label.task, instruction, label.reference, source, None))
    return rows

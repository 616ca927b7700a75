"""Instruction wordings chosen from text alone, on dev, before any speech is scored.

A zero-shot figure means something only where the LLM can do the task given the transcript itself,
and a wording that the LLM misreads from text would be blamed on the adapter. So, for each task with
``evaluate.wording_candidates``, every candidate (and the configured wording) is scored under the
``text`` condition on the first ``evaluate.wording_rows`` dev utterances (by id) that have the task;
the best headline score wins (ties: the configured wording, then the order given). Neither speech nor
the test split is read. A task whose winning text-input score misses ``evaluate.text_ceiling_bar``
is reported as not measurable and left unscored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from components.config import EvaluateParams
from components.data.manifest import Utterance, task_labels
from components.evaluation.metrics import TASK_SCORERS
from components.evaluation.transfer import HEADLINE
from components.evaluation.zero_shot import generate_by_length
from components.modeling.speech_llm import SpeechLLM


@dataclass(frozen=True)
class WordingChoice:
    """One task's choice: the wording used, every candidate's dev text-input score, and whether that
    ceiling clears the bar (``bar`` None: no bar set)."""

    task: str
    metric: str
    chosen: str
    scores: dict[str, float]
    rows: int
    bar: float | None
    measurable: bool

    @property
    def ceiling(self) -> float:
        return self.scores[self.chosen]

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "ceiling": self.ceiling}


def clears(task: str, score: float, bar: float | None) -> bool:
    if bar is None:
        return True
    lower_better = HEADLINE[task][1]
    return score <= bar if lower_better else score >= bar


def choose_wordings(
    model: SpeechLLM,
    dev: Sequence[Utterance],
    params: EvaluateParams,
    training_instructions: set[str],
) -> dict[str, WordingChoice]:
    """Per task with candidates or a bar: the wording to evaluate with, chosen from dev text input.

    A candidate that is also a training instruction is skipped (it would not be zero-shot).

    Raises:
        ValueError: a task has candidates but no dev utterance has that task.
    """
    tasks = sorted(set(params.wording_candidates) | set(params.text_ceiling_bar))
    choices = {}
    for task in tasks:
        rows = [u for u in sorted(dev, key=lambda u: u.id) if any(lb.task == task for lb in task_labels(u))]
        rows = rows[: params.wording_rows]
        if not rows:
            raise ValueError(f"evaluate.wording_candidates.{task}: no dev utterance has a {task} label")
        labels = [label for u in rows for label in task_labels(u) if label.task == task]
        texts = [u.text for u in rows for label in task_labels(u) if label.task == task]
        wordings = [
            w
            for w in dict.fromkeys([params.wording(task), *params.wording_candidates.get(task, [])])
            if w not in training_instructions
        ]
        metric, lower_better = HEADLINE[task]
        scores = {}
        for wording in wordings:
            answers = generate_by_length(model, [lb.instruction(wording) for lb in labels], texts, params)
            scores[wording] = TASK_SCORERS[task]([lb.reference for lb in labels], answers)[metric]
        best = min(scores, key=lambda w: scores[w]) if lower_better else max(scores, key=lambda w: scores[w])
        bar = params.text_ceiling_bar.get(task)
        choices[task] = WordingChoice(
            task, metric, best, scores, len(labels), bar, clears(task, scores[best], bar)
        )
    return choices


def chosen_params(params: EvaluateParams, choices: dict[str, WordingChoice]) -> EvaluateParams:
    """``params`` with each chosen wording in its task's ``*_instruction``."""
    return params.model_copy(update={f"{task}_instruction": c.chosen for task, c in choices.items()})


def unmeasurable_tasks(choices: dict[str, WordingChoice]) -> set[str]:
    return {task for task, choice in choices.items() if not choice.measurable}


def format_choices(choices: dict[str, WordingChoice]) -> list[str]:
    """Markdown lines: each task's text-input ceiling on dev, its wording, and whether it is scored."""
    lines = []
    for choice in choices.values():
        others = "; ".join(f"{w!r} {s:.3g}" for w, s in choice.scores.items() if w != choice.chosen)
        verdict = (
            "scored"
            if choice.measurable
            else f"NOT MEASURABLE: the LLM cannot do it from text (bar {choice.bar:g}), so it is not scored"
        )
        ceiling = f"text-input {choice.metric} on {choice.rows} dev rows {choice.ceiling:.3g}"
        lines.append(
            f"- {choice.task}: {ceiling} with {choice.chosen!r}; {verdict}"
            + (f" (other wordings: {others})" if others else "")
        )
    return lines

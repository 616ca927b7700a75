"""Instruction wordings chosen from text alone, on dev, before any speech is scored.

A zero-shot figure means something only where the LLM can do the task given the transcript itself,
and a wording that the LLM misreads from text would be blamed on the adapter. So, for each task with
``evaluate.wording_candidates``, every candidate (and the configured wording) is scored under the
``text`` condition on ``evaluate.wording_rows`` dev rows of the task, drawn in turn from each group
(language, or language pair for translation; each group in id order), so that no language decides
alone; the best headline score wins (ties: the configured wording, then the order given). Neither
speech nor the test split is read. A task whose winning text-input score misses
``evaluate.text_ceiling_bar`` is reported as not measurable and left unscored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, zip_longest

from components.config import EvaluateParams
from components.data.manifest import TaskLabel, Utterance, task_labels
from components.evaluation.metrics import TASK_SCORERS
from components.evaluation.transfer import HEADLINE
from components.evaluation.zero_shot import generate_by_length, token_limit
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
        """For ``metrics/eval.json``: the scores as a list, since a wording is no metric name."""
        candidates = [{"wording": w, "score": s} for w, s in self.scores.items()]
        return {
            "task": self.task,
            "metric": self.metric,
            "chosen": self.chosen,
            "ceiling": self.ceiling,
            "rows": self.rows,
            "bar": self.bar,
            "measurable": self.measurable,
            "candidates": candidates,
        }


def clears(task: str, score: float, bar: float | None) -> bool:
    if bar is None:
        return True
    lower_better = HEADLINE[task][1]
    return score <= bar if lower_better else score >= bar


def dev_rows(dev: Sequence[Utterance], task: str, count: int) -> list[tuple[Utterance, TaskLabel]]:
    """Up to ``count`` (utterance, label) pairs of ``task``: one from each group in turn (groups in
    name order, rows in id order), so every language or language pair is represented."""
    groups: dict[str, list[tuple[Utterance, TaskLabel]]] = {}
    for utterance in sorted(dev, key=lambda u: u.id):
        for label in task_labels(utterance):
            if label.task == task:
                groups.setdefault(label.group, []).append((utterance, label))
    turns = zip_longest(*(groups[name] for name in sorted(groups)))
    return [row for row in chain.from_iterable(turns) if row is not None][:count]


def choose_wordings(
    model: SpeechLLM,
    dev: Sequence[Utterance],
    params: EvaluateParams,
    training_instructions: set[str],
) -> dict[str, WordingChoice]:
    """Per task with candidates or a bar and with dev rows: the wording to evaluate with, chosen from
    dev text input. A wording that, filled in, is a training instruction is skipped (it would not be
    zero-shot); a task without dev rows is left out (the split has none to choose on).

    Raises:
        ValueError: every wording of a task is a training instruction.
    """
    tasks = sorted(set(params.wording_candidates) | set(params.text_ceiling_bar))
    choices = {}
    for task in tasks:
        rows = dev_rows(dev, task, params.wording_rows)
        if not rows:
            continue
        labels = [label for _, label in rows]
        wordings = [
            w
            for w in dict.fromkeys([params.wording(task), *params.wording_candidates.get(task, [])])
            if not any(label.instruction(w) in training_instructions for label in labels)
        ]
        if not wordings:
            raise ValueError(
                f"evaluate: every {task} wording (evaluate.{task}_instruction and its "
                "wording_candidates) is a training instruction; add one that training does not use"
            )
        metric, lower_better = HEADLINE[task]
        scores = {}
        for wording in wordings:
            instructions = [label.instruction(wording) for label in labels]
            limits = [token_limit(u.duration_s, params) for u, _ in rows]
            answers = generate_by_length(model, instructions, [u.text for u, _ in rows], params, limits)
            references = [label.reference for label in labels]
            languages = [label.reference_language for label in labels]
            scores[wording] = TASK_SCORERS[task](references, answers, languages)[metric]
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

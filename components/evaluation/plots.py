"""Evaluation figures as PNG, for people reading a run in MLflow or the reports folder: each task's
headline metric per language (or language pair) and condition, and the intent confusion matrix."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.evaluation.metrics import normalise_for_asr

# task → (headline metric, its axis label)
PLOTTED = {
    "asr": ("cer", "CER (lower is better)"),
    "st": ("chrf", "chrF (higher is better)"),
    "intent": ("accuracy", "accuracy"),
    "qa": ("f1", "token F1"),
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_task_by_group(report: dict[str, Any], task: str, path: Path) -> None:
    """Grouped bars: one group per language (pair), one bar per condition, of the task's headline."""
    import numpy as np

    plt = _pyplot()
    metric, label = PLOTTED[task]
    conditions = list(report[task])
    groups = sorted(g for g in report[task][conditions[0]] if g != "all")
    width = 0.8 / len(conditions)
    figure, axis = plt.subplots(figsize=(max(5.0, 1.6 * len(groups) + 2) + 2.0, 3.5), dpi=100)
    for offset, condition in enumerate(conditions):
        values = [report[task][condition][group][metric] for group in groups]
        axis.bar(np.arange(len(groups)) + offset * width, values, width, label=condition)
    axis.set_xticks(np.arange(len(groups)) + width * (len(conditions) - 1) / 2, groups)
    axis.set_ylabel(label)
    axis.set_title(f"{task}: {metric} per {'language pair' if task == 'st' else 'language'} and condition")
    # beside the axes, not on them: with eight conditions a legend inside covers the tallest bars
    axis.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    axis.grid(axis="y", alpha=0.3)
    _save(figure, path)


def confusion_shares(
    references: Sequence[str], predictions: Sequence[str], languages: Sequence[str] | None = None
) -> tuple[list[str], list[str], Any]:
    """(labels, columns, shares (len(labels), len(columns))): rows the normalised reference label,
    columns the normalised answer with answers outside the label set pooled as ``other``; each row
    as shares of its references."""
    import numpy as np

    languages = list(languages or [""] * len(references))  # normalised as accuracy normalises them
    pairs = [
        (normalise_for_asr(r, lang), normalise_for_asr(h, lang))
        for r, h, lang in zip(references, predictions, languages, strict=True)
    ]
    labels = sorted({ref for ref, _ in pairs})
    columns = [*labels, "other"]
    counts = Counter((ref, hyp if hyp in labels else "other") for ref, hyp in pairs)
    matrix = np.array([[counts[(r, c)] for c in columns] for r in labels], dtype=float)
    return labels, columns, matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)


def plot_confusion(
    references: Sequence[str], predictions: Sequence[str], languages: Sequence[str], path: Path
) -> None:
    """The intent confusion matrix of :func:`confusion_shares` as a heat map."""
    import numpy as np

    plt = _pyplot()
    labels, columns, shares = confusion_shares(references, predictions, languages)
    figure, axis = plt.subplots(figsize=(1.0 * len(columns) + 2.5, 0.8 * len(labels) + 2), dpi=100)
    axis.imshow(shares, vmin=0, vmax=1, cmap="Blues")
    axis.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    for (row, column), share in np.ndenumerate(shares):
        axis.text(column, row, f"{share:.2f}", ha="center", va="center", fontsize="small")
    axis.set_xlabel("answer (speech)")
    axis.set_ylabel("reference")
    axis.set_title("intent from speech")
    _save(figure, path)


def _save(figure: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, metadata={"Software": None})  # no version stamp: the same figures, same bytes
    _pyplot().close(figure)


def plot_evaluation(
    report: dict[str, Any], queries: Sequence[Any], outputs: dict[str, list[str]], out: Path
) -> list[Path]:
    """Every figure for one evaluation into ``out``: ``<task>_<metric>.png`` per scored task, and
    ``intent_confusion.png`` when intent was scored. Returns the paths written."""
    written = []
    for task, (metric, _) in PLOTTED.items():
        if task in report:
            written.append(out / f"{task}_{metric}.png")
            plot_task_by_group(report, task, written[-1])
    intent = [i for i, q in enumerate(queries) if q.task == "intent"]
    if intent:
        written.append(out / "intent_confusion.png")
        plot_confusion(
            [queries[i].reference for i in intent],
            [outputs["speech"][i] for i in intent],
            [queries[i].language for i in intent],
            written[-1],
        )
    return written

"""The transfer report: speech input against its two controls and the text-input ceiling.

One line per task with its headline metric, plus a paired per-utterance test for ASR: the CER gap
between the shuffled-audio control and the matched audio, with a bootstrap interval, because every
output shares the grammar's template and even wrong audio scores a CER well below 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.evaluation.metrics import (
    NORMALISER,
    SPACELESS,
    normalise_for_asr,
    paired_bootstrap,
    sentence_key,
    utterance_cer,
)
from components.evaluation.zero_shot import CASCADES, CONDITIONS, Query

# task → (headline metric, lower is better)
HEADLINE = {
    "asr": ("cer", True),
    "st": ("chrf", False),
    "intent": ("accuracy", False),
    "qa": ("f1", False),
}
SECONDARY = {"asr": "wer", "st": "bleu", "qa": "exact_match"}
TASK_NAMES = {"asr": "ASR", "st": "translation", "intent": "intent", "qa": "spoken QA"}
CONTROLS = ("shuffled", "untrained")


def beats(task: str, speech: float, control: float) -> bool:
    lower_better = HEADLINE[task][1]
    return speech < control if lower_better else speech > control


def paired_asr_gaps(queries: Sequence[Query], outputs: dict[str, list[str]], seed: int) -> dict[str, Any]:
    """Per-utterance CER(control) − CER(speech): positive means the matched audio helped. Utterances
    whose reference normalises to nothing have no CER and are left out."""
    indices = [
        i for i, q in enumerate(queries) if q.task == "asr" and normalise_for_asr(q.reference, q.language)
    ]
    speech = [utterance_cer(queries[i].reference, outputs["speech"][i], queries[i].language) for i in indices]
    # the unit of resampling: one sentence, however many voices speak it
    sentences = [sentence_key(queries[i].reference, queries[i].language) for i in indices]
    gaps = {}
    for control in CONTROLS:
        other = [
            utterance_cer(queries[i].reference, outputs[control][i], queries[i].language) for i in indices
        ]
        gaps[control] = paired_bootstrap(
            [o - s for o, s in zip(other, speech, strict=True)], seed, clusters=sentences
        )
        gaps[control]["speech_better_share"] = sum(o > s for o, s in zip(other, speech, strict=True)) / max(
            1, len(indices)
        )
    return gaps


def transfer_summary(
    report: dict[str, Any], queries: Sequence[Query], outputs: dict[str, list[str]], seed: int
) -> dict[str, Any]:
    """Headline figures per task and condition, whether speech beats each control, and the ASR test."""
    tasks = {}
    for task, (metric, _) in HEADLINE.items():
        if task not in report:
            continue
        shown = (*CONDITIONS, *(c for c in CASCADES if c in report[task]))
        shown += tuple(c for c in report[task] if c.endswith("_constrained"))  # intent from its label set
        figures = {condition: report[task][condition]["all"][metric] for condition in shown}
        tasks[task] = {
            "metric": metric,
            **figures,
            **{f"beats_{control}": beats(task, figures["speech"], figures[control]) for control in CONTROLS},
        }
    summary: dict[str, Any] = {"tasks": tasks}
    if "asr" in report:
        summary["asr_paired_cer_gap"] = paired_asr_gaps(queries, outputs, seed)
    return summary


def format_markdown(summary: dict[str, Any], report: dict[str, Any]) -> str:
    """The report as a markdown table, for the terminal, the README and MLflow."""
    cascades = [c for c in CASCADES if any(c in row for row in summary["tasks"].values())]
    lines = [
        "| task | metric | speech (trained adapter) | control: shuffled audio | control: untrained adapter "
        "| text input (ceiling) |" + "".join(f" {CASCADES[c]} |" for c in cascades),
        "|---|---|---|---|---|---|" + "---|" * len(cascades),
    ]
    for task, row in summary["tasks"].items():
        scored = report[task]["speech"]["all"]  # WER is left out for languages written without spaces
        metrics = [row["metric"], *([SECONDARY[task]] if SECONDARY.get(task) in scored else [])]
        shown = (*CONDITIONS, *cascades)
        for metric in metrics:
            cells = [_cell(report[task][condition]["all"][metric], metric) for condition in shown]
            if metric == row["metric"] and row["beats_shuffled"] and row["beats_untrained"]:
                cells[0] = f"**{cells[0]}**"
            lines.append(f"| {TASK_NAMES[task]} | {metric} | " + " | ".join(cells) + " |")
        if "speech_constrained" in row:  # the same queries, answered by choosing from the label set
            chosen = [row.get(f"{condition}_constrained") for condition in CONDITIONS]
            cells = [_cell(value, row["metric"]) if value is not None else "–" for value in chosen]
            cells += ["–"] * len(cascades)
            lines.append(
                f"| {TASK_NAMES[task]}, chosen from the labels | {row['metric']} | "
                + " | ".join(cells)
                + " |"
            )
    gaps = summary.get("asr_paired_cer_gap")
    if gaps:
        lines.append("")
        for control, gap in gaps.items():
            lines.append(
                f"- ASR, paired per utterance (n = {gap['n']}): CER({control}) − CER(speech) = "
                f"{gap['mean']:+.3f}, 95% bootstrap CI [{gap['low']:+.3f}, {gap['high']:+.3f}] "
                f"({gap['clusters']} {gap['resampled']} resampled); "
                f"speech better on {gap['speech_better_share']:.0%} of utterances"
            )
    lines += ["", *scoring_notes(report)]
    return "\n".join(lines) + "\n"


def scoring_notes(report: dict[str, Any]) -> list[str]:
    """How the figures were scored: the ASR normaliser and each BLEU signature, for a reader to repeat."""
    notes = []
    if "asr" in report:
        notes.append(
            f"- ASR: CER and WER on text normalised by {NORMALISER}; for languages written without "
            f"spaces ({', '.join(sorted(SPACELESS))}) CER without spaces and no WER"
        )
    if "st" in report:
        signatures = sorted(
            {v["bleu_signature"] for group, v in report["st"]["speech"].items() if "bleu_signature" in v}
        )
        notes += [f"- translation BLEU: sacrebleu {signature}" for signature in signatures]
    return notes


def _cell(value: float, metric: str) -> str:
    return f"{value:.1f}" if metric in ("chrf", "bleu") else f"{value:.3f}"

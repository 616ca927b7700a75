"""Evaluation figures: one PNG per scored task by language and condition, and the intent confusion."""

from __future__ import annotations

import pytest

from tests.labelled_utterances import labelled_utterances


def test_confusion_rows_are_shares_of_each_reference_label() -> None:
    from components.evaluation.plots import confusion_shares

    references = ["Movement", "movement", "movement", "perception"]
    answers = ["movement.", "perception", "a cat", "perception"]
    labels, columns, shares = confusion_shares(references, answers)
    assert labels == ["movement", "perception"] and columns == ["movement", "perception", "other"]
    assert shares.tolist() == [pytest.approx([1 / 3, 1 / 3, 1 / 3]), [0.0, 1.0, 0.0]]


def test_every_scored_task_gets_its_figure(tmp_path) -> None:
    from PIL import Image

    from components.config import EvaluateParams
    from components.evaluation.plots import plot_evaluation
    from components.evaluation.zero_shot import build_queries, score

    utterances = labelled_utterances(["eng", "spa", "eng", "spa"])
    queries = build_queries(utterances, EvaluateParams())
    outputs = {c: [q.reference for q in queries] for c in ("speech", "shuffled", "untrained", "text")}
    written = plot_evaluation(score(queries, outputs), queries, outputs, tmp_path)
    assert [p.name for p in written] == [
        "asr_cer.png",
        "st_chrf.png",
        "intent_accuracy.png",
        "intent_confusion.png",
    ]
    for path in written:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] >= 300

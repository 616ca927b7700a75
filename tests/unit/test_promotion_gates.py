"""The promotion gates on hand-made evaluations: each gate refuses what it exists to refuse."""

from __future__ import annotations

from components.config import PromotionGates
from components.registry.gates import Evidence, decide

SENTENCES = [f"please press {n} to leave the conference number {n}" for n in range(12)]


def evidence(version: str, outputs: list[str], parity: bool = True, beats: bool = True, ids=None) -> Evidence:
    from components.evaluation.metrics import asr_scores

    ids = ids or [f"u{i}" for i in range(len(SENTENCES))]
    rows = [
        {"id": i, "task": "asr", "reference": r, "language": "eng", "speech_output": o}
        for i, r, o in zip(ids, SENTENCES, outputs, strict=True)
    ]
    cer = asr_scores(SENTENCES, outputs, ["eng"] * len(outputs))["cer"]
    control = cer + (0.5 if beats else -0.5)
    tasks = {
        "asr": {
            "metric": "cer",
            "speech": cer,
            "shuffled": control,
            "untrained": control,
            "beats_shuffled": beats,
            "beats_untrained": beats,
        }
    }
    return Evidence(version, parity, tasks, rows)


def drop_last_word(text: str) -> str:
    return text.rsplit(" ", 1)[0]


EXACT = list(SENTENCES)
CLOSE = [drop_last_word(s) for s in SENTENCES]
GARBLED = ["the conference has been muted" for _ in SENTENCES]


def failed(decision) -> set[str]:
    return {check.name for check in decision.checks if not check.passed}


def test_the_first_champion_must_beat_its_own_controls_and_hold_parity() -> None:
    gates = PromotionGates()
    assert decide(evidence("1", CLOSE), None, gates).promote
    assert failed(decide(evidence("1", CLOSE, beats=False), None, gates)) == {
        "asr_beats_shuffled",
        "asr_beats_untrained",
    }
    assert failed(decide(evidence("1", CLOSE, parity=False), None, gates)) == {"onnx_parity"}
    assert decide(evidence("1", CLOSE, parity=False), None, PromotionGates(require_parity=False)).promote


def test_a_worse_challenger_is_refused_and_a_better_one_accepted() -> None:
    gates = PromotionGates()
    champion = evidence("1", CLOSE)
    worse = decide(evidence("2", GARBLED), champion, gates)
    assert not worse.promote
    assert failed(worse) == {"asr_cer", "paired_cer"}  # worse in the headline and per utterance
    better = decide(evidence("3", EXACT), champion, gates)
    assert better.promote, better.summary()
    assert {c.name for c in better.checks} == {"onnx_parity", "same_test_queries", "asr_cer", "paired_cer"}


def test_the_cer_tolerance_admits_a_small_rise_only() -> None:
    champion = evidence("1", EXACT)
    slightly = evidence("2", EXACT[:-1] + [drop_last_word(EXACT[-1])])
    rise = slightly.tasks["asr"]["speech"] - champion.tasks["asr"]["speech"]
    assert 0 < rise < 0.05
    no_slack = PromotionGates(refuse_significantly_worse=False)
    assert failed(decide(slightly, champion, no_slack)) == {"asr_cer"}
    assert decide(slightly, champion, PromotionGates(max_cer_increase=0.05)).promote


def test_versions_scored_on_different_queries_are_not_compared() -> None:
    champion = evidence("1", CLOSE)
    elsewhere = evidence("2", EXACT, ids=[f"other{i}" for i in range(len(SENTENCES))])
    decision = decide(elsewhere, champion, PromotionGates())
    assert not decision.promote
    assert failed(decision) == {"same_test_queries"}
    assert "evaluate both on one split" in decision.summary()


def test_a_challenger_missing_a_task_the_champion_was_scored_on_is_refused() -> None:
    champion = evidence("1", CLOSE)
    tasks = {**champion.tasks, "st": {"metric": "chrf", "speech": 30.0}}
    champion = Evidence("1", True, tasks, champion.predictions)
    decision = decide(evidence("2", EXACT), champion, PromotionGates())
    assert failed(decision) == {"tasks_scored"}

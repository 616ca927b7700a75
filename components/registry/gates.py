"""The gates a challenger passes to become champion: pure functions of two versions' evaluations.

Against a champion, both must have been scored on the same test queries (utterance, task, reference);
then each gated headline may move the wrong way by at most its tolerance, and the paired per-utterance
CER difference, resampled by sentence (a cluster bootstrap), must not show the challenger worse. The
first version has no champion to beat, so it is held to its own controls instead: speech must beat
shuffled audio and the untrained adapter on every scored task. Both need ONNX parity when required.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from components.config import PromotionGates
from components.evaluation.metrics import normalise_for_asr, paired_bootstrap, sentence_key, utterance_cer
from components.evaluation.transfer import CONTROLS, HEADLINE


@dataclass(frozen=True)
class Evidence:
    """What a version's run recorded of its evaluation: ``tasks`` is ``eval.json``'s
    ``transfer.tasks`` (task → speech, controls, metric, beats_*), ``predictions`` the rows of
    ``reports/eval/predictions.jsonl``."""

    version: str
    parity: bool
    tasks: dict[str, dict[str, Any]]
    predictions: list[dict[str, Any]] = field(default_factory=list)

    def queries(self) -> str:
        """sha256 of the sorted (utterance id, task, reference) triples this version was scored on."""
        triples = sorted((row["id"], row["task"], row["reference"]) for row in self.predictions)
        return hashlib.sha256(json.dumps(triples).encode()).hexdigest()


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{self.name}: {'pass' if self.passed else 'FAIL'} ({self.detail})"


@dataclass(frozen=True)
class Decision:
    promote: bool
    checks: list[Check]

    def summary(self) -> str:
        return "; ".join(check.line() for check in self.checks)


def tolerance(task: str, gates: PromotionGates) -> float:
    """How far a task's headline may move the wrong way: CER for ASR, chrF for translation, none for
    intent accuracy and QA F1."""
    return {"asr": gates.max_cer_increase, "st": gates.max_chrf_decrease}.get(task, 0.0)


def parity_check(evidence: Evidence, gates: PromotionGates) -> list[Check]:
    if not gates.require_parity:
        return []
    return [Check("onnx_parity", evidence.parity, "export matched" if evidence.parity else "export differed")]


def own_controls_checks(challenger: Evidence) -> list[Check]:
    """The first champion: speech beats both controls on every scored task."""
    if not challenger.tasks:
        return [Check("scored_tasks", False, "the evaluation scored no task")]
    checks = []
    for task, summary in sorted(challenger.tasks.items()):
        for control in CONTROLS:
            passed = bool(summary.get(f"beats_{control}"))
            detail = f"{summary['metric']} speech {summary['speech']:.4g} vs {control} {summary[control]:.4g}"
            checks.append(Check(f"{task}_beats_{control}", passed, detail))
    return checks


def headline_checks(challenger: Evidence, champion: Evidence, gates: PromotionGates) -> list[Check]:
    checks = []
    for task in sorted(set(challenger.tasks) & set(champion.tasks)):
        metric, lower_better = HEADLINE[task]
        new, old = challenger.tasks[task]["speech"], champion.tasks[task]["speech"]
        worse_by = (new - old) if lower_better else (old - new)
        allowed = tolerance(task, gates)
        detail = f"{metric} {new:.4g} vs champion {old:.4g}, worse by {worse_by:+.4g}, allowed {allowed:g}"
        checks.append(Check(f"{task}_{metric}", worse_by <= allowed, detail))
    missing = sorted(set(champion.tasks) - set(challenger.tasks))
    if missing:
        detail = f"the champion was scored on {missing}, the challenger not"
        checks.append(Check("tasks_scored", False, detail))
    return checks


def paired_cer_check(challenger: Evidence, champion: Evidence, seed: int) -> Check:
    """CER(champion) − CER(challenger) per ASR utterance, resampled by sentence; the challenger is
    significantly worse when the interval's upper end is below zero."""
    old = {(row["id"], row["task"]): row for row in champion.predictions if row["task"] == "asr"}
    differences: list[float] = []
    sentences: list[str] = []
    for row in challenger.predictions:
        if row["task"] != "asr" or (row["id"], "asr") not in old:
            continue
        language = row.get("language", "")
        if not normalise_for_asr(row["reference"], language):
            continue  # no CER for a reference that normalises to nothing
        before = utterance_cer(row["reference"], old[(row["id"], "asr")]["speech_output"], language)
        after = utterance_cer(row["reference"], row["speech_output"], language)
        differences.append(before - after)
        sentences.append(sentence_key(row["reference"], language))
    if not differences:
        return Check("paired_cer", True, "no ASR utterance scored by both")
    gap = paired_bootstrap(differences, seed, clusters=sentences)
    detail = (
        f"CER(champion) − CER(challenger) {gap['mean']:+.4f}, 95% CI [{gap['low']:+.4f}, {gap['high']:+.4f}] "
        f"over {gap['clusters']} sentences"
    )
    return Check("paired_cer", not gap["high"] < 0, detail)


def decide(challenger: Evidence, champion: Evidence | None, gates: PromotionGates) -> Decision:
    """Every gate's check and whether all passed. Comparing versions scored on different test queries
    is itself a failed check: their figures say nothing of each other."""
    checks = parity_check(challenger, gates)
    if champion is None:
        checks += own_controls_checks(challenger)
    elif challenger.queries() != champion.queries():
        checks.append(
            Check(
                "same_test_queries",
                False,
                f"version {challenger.version} and champion {champion.version} were scored on different "
                "test queries; evaluate both on one split first",
            )
        )
    else:
        checks.append(Check("same_test_queries", True, f"{len(challenger.predictions)} queries"))
        checks += headline_checks(challenger, champion, gates)
        if gates.refuse_significantly_worse:
            checks.append(paired_cer_check(challenger, champion, gates.bootstrap_seed))
    return Decision(all(check.passed for check in checks), checks)


def evidence_json(decision: Decision, challenger: Evidence, champion: Evidence | None) -> dict[str, Any]:
    """The decision as a document: every check and both versions' headlines."""
    return {
        "promote": decision.promote,
        "challenger": {"version": challenger.version, "tasks": challenger.tasks},
        "champion": {"version": champion.version, "tasks": champion.tasks} if champion else None,
        "checks": [check.__dict__ for check in decision.checks],
    }


def scored_tasks(eval_metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``transfer.tasks`` of an ``eval.json``: the tasks a version was scored on."""
    return dict((eval_metrics.get("transfer") or {}).get("tasks") or {})

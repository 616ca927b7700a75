"""Moving ``champion``: through the gates (:mod:`gates`) on promotion, back to the previous champion on
rollback; every move recorded on the versions as tags and the evidence as an artifact of the run.

Tags written on the challenger: ``promotion.decision`` (``promoted`` or ``refused``),
``promotion.checks`` (each gate, one line), ``promotion.champion_before`` (the version it replaced, or
``none``), ``promotion.time``; the whole evidence as ``promotion/<time>.json`` in its run. A rollback
writes ``rollback.to`` and ``rollback.time`` on the champion it demotes and ``rollback.restored_from``
on the one it restores.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from components.config import Params
from components.registry.gates import Check, Decision, Evidence, decide, evidence_json, scored_tasks

EVAL_ARTIFACT = "metrics/eval.json"
PREDICTIONS_ARTIFACT = "reports/eval/predictions.jsonl"
TAG_LIMIT = 5000  # MLflow's longest tag value


class PromotionError(RuntimeError):
    """Promotion or rollback cannot proceed (no such version, nothing to roll back to); one line."""


@dataclass(frozen=True)
class Outcome:
    """What promote or rollback did: the champion before and after, and a one-line message."""

    version: str
    champion_before: str | None
    champion_after: str | None
    promoted: bool
    message: str
    decision: Decision | None = None


def alias_version(client: Any, name: str, alias: str) -> Any | None:
    """The version ``alias`` points at, or None when it is not set (any other failure raises)."""
    from mlflow.exceptions import MlflowException

    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException as exc:
        raise PromotionError(f"no model named {name!r} is registered ({exc.error_code})") from None
    if alias not in aliases:
        return None
    return client.get_model_version(name, str(aliases[alias]))


def version_evidence(client: Any, version: Any) -> Evidence:
    """A version's evaluation as its run logged it (``metrics/eval.json``, predictions, parity tag)."""
    import mlflow

    with TemporaryDirectory() as tmp:
        try:
            eval_path = mlflow.artifacts.download_artifacts(
                run_id=version.run_id, artifact_path=EVAL_ARTIFACT, dst_path=tmp
            )
            predictions_path = mlflow.artifacts.download_artifacts(
                run_id=version.run_id, artifact_path=PREDICTIONS_ARTIFACT, dst_path=tmp
            )
        except Exception as exc:  # noqa: BLE001 - MLflow raises several kinds for a missing artifact
            raise PromotionError(
                f"version {version.version}: its run {version.run_id} has no {EVAL_ARTIFACT} or "
                f"{PREDICTIONS_ARTIFACT} to judge it by ({type(exc).__name__})"
            ) from None
        tasks = scored_tasks(json.loads(Path(eval_path).read_text(encoding="utf-8")))
        lines = Path(predictions_path).read_text(encoding="utf-8").splitlines()
    return Evidence(
        version=str(version.version),
        parity=(version.tags or {}).get("onnx_parity") == "passed",
        tasks=tasks,
        predictions=[json.loads(line) for line in lines if line.strip()],
    )


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# asked with the version's name and the gates' decision; answers the ``approval`` check: passed when
# a person approved, failed (with who and why, or the timeout) otherwise
Approver = Callable[[str, Decision], Check]


def promote(
    client: Any, params: Params, version: str | None = None, approve: Approver | None = None
) -> Outcome:
    """Judge ``version`` (default: the challenger alias's) against the champion and move ``champion``
    to it only if every gate passes and, when ``approve`` is given, a person approves the passing
    decision (see :data:`Approver`); the decision is recorded either way, the approval as a check.

    Raises:
        PromotionError: no such version or alias, or a version without its evaluation artifacts.
    """
    from mlflow.exceptions import MlflowException

    registry = params.registry
    name = registry.model_name
    if version is None:
        target = alias_version(client, name, registry.challenger_alias)
        if target is None:
            raise PromotionError(f"{name} has no '{registry.challenger_alias}' version to promote")
    else:
        try:
            target = client.get_model_version(name, str(version))
        except MlflowException:
            raise PromotionError(f"{name} has no version {version!r}; see `speechalign models`") from None
    champion = alias_version(client, name, registry.champion_alias)
    before = str(champion.version) if champion is not None else None
    if before == str(target.version):
        return Outcome(before, before, before, False, f"{name} version {before} is already champion")
    challenger_evidence = version_evidence(client, target)
    champion_evidence = version_evidence(client, champion) if champion is not None else None
    decision = decide(challenger_evidence, champion_evidence, registry.promotion)
    if decision.promote and approve is not None:  # only a decision the gates passed goes to a person
        approval = approve(f"{name} version {target.version}", decision)
        decision = Decision(approval.passed, [*decision.checks, approval])
    stamp = now()
    client.log_dict(
        target.run_id,
        evidence_json(decision, challenger_evidence, champion_evidence),
        f"promotion/{stamp.replace(':', '-')}.json",
    )
    tags = {
        "promotion.decision": "promoted" if decision.promote else "refused",
        "promotion.checks": decision.summary()[:TAG_LIMIT],
        "promotion.champion_before": before or "none",
        "promotion.time": stamp,
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, str(target.version), key, value)
    against = f"champion {before}" if before else "its own controls (first champion)"
    if not decision.promote:
        failed = "; ".join(check.line() for check in decision.checks if not check.passed)
        message = f"{name} version {target.version} refused against {against}: {failed}"
        return Outcome(str(target.version), before, before, False, message, decision)
    client.set_registered_model_alias(name, registry.champion_alias, str(target.version))
    message = (
        f"{name} version {target.version} is champion (was {before or 'none'}), judged against {against}"
    )
    return Outcome(str(target.version), before, str(target.version), True, message, decision)


def rollback(client: Any, params: Params) -> Outcome:
    """Move ``champion`` back to the version the current champion replaced.

    Raises:
        PromotionError: there is no champion, or it was the first and replaced nothing.
    """
    registry = params.registry
    name = registry.model_name
    champion = alias_version(client, name, registry.champion_alias)
    if champion is None:
        raise PromotionError(f"{name} has no '{registry.champion_alias}' to roll back")
    previous = (champion.tags or {}).get("promotion.champion_before", "none")
    if previous == "none":
        raise PromotionError(
            f"{name} version {champion.version} was the first champion; there is none before it to restore"
        )
    stamp = now()
    client.set_registered_model_alias(name, registry.champion_alias, previous)
    client.set_model_version_tag(name, str(champion.version), "rollback.to", previous)
    client.set_model_version_tag(name, str(champion.version), "rollback.time", stamp)
    client.set_model_version_tag(name, previous, "rollback.restored_from", str(champion.version))
    message = f"{name} champion rolled back from version {champion.version} to version {previous}"
    return Outcome(previous, str(champion.version), previous, True, message)

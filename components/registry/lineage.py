"""Lineage of a pipeline state: git commit, dirty flag and the ``dvc.lock`` hash of every input and output.

The fingerprint is a hash over those data and code hashes, so two runs that produced the same
outputs from the same inputs share it, and the registry can tell that nothing changed.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.modeling.base_models import SOURCES_FILE
from components.registry.environment import hardware, package_versions, validation_summary
from components.workspace import BASE_DIR, METRICS_DIR

LOCK_FILE = "dvc.lock"


@dataclass(frozen=True)
class Lineage:
    git_commit: str
    git_dirty: bool
    stage_hashes: dict[str, dict[str, dict[str, str]]]  # stage → {"deps"|"outs": {path: md5}}
    params: dict[str, Any] = field(default_factory=dict)
    # ``models/base/sources.json``: each base model's source, and format + sha256 where it was converted
    base_models: dict[str, Any] = field(default_factory=dict)
    # not fingerprinted (see :mod:`environment`): package versions and hardware of the machine that ran
    # the flow, and validation's summary of the data
    packages: dict[str, str] = field(default_factory=dict)
    machine: dict[str, str] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """sha256 over every stage's dependency and output hashes and the params values it used."""
        canonical = json.dumps({"hashes": self.stage_hashes, "params": self.params}, sort_keys=True).encode()
        return hashlib.sha256(canonical).hexdigest()

    def tags(self) -> dict[str, str]:
        """Flat ``key → value`` tags for an MLflow run or model version."""
        tags = {
            "git_commit": self.git_commit,
            "git_dirty": str(self.git_dirty).lower(),
            "lineage_fingerprint": self.fingerprint,
        }
        for stage, kinds in self.stage_hashes.items():
            for kind, paths in kinds.items():
                for path, md5 in paths.items():
                    tags[f"dvc.{stage}.{kind}.{path}"] = md5
        for role in ("encoder", "llm"):
            if role in self.base_models:
                tags[f"base_model.{role}"] = str(self.base_models[role])
        for role, record in (self.base_models.get("checkpoints") or {}).items():
            tags[f"base_model.{role}.format"] = record["format"]
            tags[f"base_model.{role}.sha256"] = record["sha256"]
        tags.update({f"package.{name}": version for name, version in self.packages.items()})
        tags.update({f"machine.{key}": value for key, value in self.machine.items()})
        for key, value in self.validation.items():
            tags[f"validation.{key}"] = ",".join(value) if isinstance(value, list) else str(value)
        return tags

    def to_json(self) -> dict[str, Any]:
        return {
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "lineage_fingerprint": self.fingerprint,
            "stages": self.stage_hashes,
            "params": self.params,
            "base_models": self.base_models,
            "packages": self.packages,
            "machine": self.machine,
            "validation": self.validation,
        }


def _git(workspace: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=workspace, capture_output=True, text=True, check=False)
    return out.stdout.strip() if out.returncode == 0 else ""


def git_state(workspace: Path) -> tuple[str, bool]:
    """HEAD commit (or ``unknown``) and whether tracked or untracked source files differ from it.

    ``dvc.lock`` is left out: it is the pipeline's own record, whose hashes are logged separately.
    """
    commit = _git(workspace, "rev-parse", "HEAD") or "unknown"
    status = _git(workspace, "status", "--porcelain", "--", ".", f":(exclude){LOCK_FILE}")
    return commit, bool(status)


def stage_hashes(lock: dict[str, Any]) -> dict[str, dict[str, dict[str, str]]]:
    """``dvc.lock`` → {stage: {"deps": {path: md5}, "outs": {path: md5}}}."""
    hashes: dict[str, dict[str, dict[str, str]]] = {}
    for stage, entry in sorted((lock.get("stages") or {}).items()):
        hashes[stage] = {
            kind: {
                item["path"]: str(item.get("md5") or item.get("hash") or "") for item in entry.get(kind) or []
            }
            for kind in ("deps", "outs")
        }
    return hashes


def collect_lineage(workspace: Path) -> Lineage:
    """Read ``dvc.lock`` and git in ``workspace``; a missing lock means the pipeline has not run."""
    lock_path = Path(workspace) / LOCK_FILE
    if not lock_path.is_file():
        raise FileNotFoundError(f"{lock_path}: missing; run the pipeline (dvc repro) first")
    lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
    params = {stage: entry.get("params", {}) for stage, entry in (lock.get("stages") or {}).items()}
    commit, dirty = git_state(Path(workspace))
    sources = Path(workspace) / BASE_DIR / SOURCES_FILE  # prepare's record of the base models
    base_models = json.loads(sources.read_text(encoding="utf-8")) if sources.is_file() else {}
    return Lineage(
        commit,
        dirty,
        stage_hashes(lock),
        params,
        base_models,
        packages=package_versions(),
        machine=hardware(),
        validation=validation_summary(Path(workspace) / METRICS_DIR / "validation.json"),
    )

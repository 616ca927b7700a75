"""A registered version rebuilt from its record: the workspace at the version's git commit, the
pipeline re-run from scratch, and every stage output's hash compared with the one the version was
registered with (its ``dvc.<stage>.outs.<path>`` tags, from ``dvc.lock``). Every output must match:
data, models, metrics and reports alike, since the stages keep timings, cache counts and render
stamps out of them
(:mod:`components.run_records`)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.registry.lineage import stage_hashes


class ReproductionError(RuntimeError):
    """The version cannot be rebuilt (no commit recorded, commit unknown, target not empty)."""


@dataclass(frozen=True)
class OutputCheck:
    stage: str
    path: str
    recorded: str
    rebuilt: str

    @property
    def same(self) -> bool:
        return self.recorded == self.rebuilt


def recorded_outputs(tags: dict[str, str]) -> dict[tuple[str, str], str]:
    """``(stage, path) → md5`` of every stage output the version's tags record."""
    outputs = {}
    for key, value in tags.items():
        parts = key.split(".", 3)  # dvc.<stage>.<deps|outs>.<path>; a path may hold dots, a stage not
        if len(parts) == 4 and parts[0] == "dvc" and parts[2] == "outs":
            outputs[(parts[1], parts[3])] = value
    return outputs


def checkout_version(workspace: Path, commit: str, target: Path) -> None:
    """Clone ``workspace``'s git repository into ``target`` at ``commit``.

    Raises:
        ReproductionError: ``target`` exists and is not empty, or ``commit`` is not in the repository.
    """
    if target.exists() and any(target.iterdir()):
        raise ReproductionError(f"{target}: exists and is not empty; remove it or pass another --into")
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "-q", str(workspace), str(target)], check=True, capture_output=True)
    done = subprocess.run(["git", "checkout", "-q", commit], cwd=target, capture_output=True, text=True)
    if done.returncode != 0:
        raise ReproductionError(f"{workspace}: commit {commit} is not in its git history")


def compare_outputs(tags: dict[str, str], rebuilt_lock: Path) -> list[OutputCheck]:
    """Each output the version recorded beside the same output's hash in the rebuilt ``dvc.lock``
    (empty when the rebuild did not produce it)."""
    lock = yaml.safe_load(rebuilt_lock.read_text(encoding="utf-8")) if rebuilt_lock.is_file() else {}
    rebuilt = stage_hashes(lock or {})
    return [
        OutputCheck(stage, path, md5, rebuilt.get(stage, {}).get("outs", {}).get(path, ""))
        for (stage, path), md5 in sorted(recorded_outputs(tags).items())
    ]


def version_commit(version: Any) -> str:
    """The git commit the version was built at.

    Raises:
        ReproductionError: the version has no ``git_commit`` tag.
    """
    commit = (version.tags or {}).get("git_commit", "")
    if not commit:
        raise ReproductionError(f"version {version.version} records no git_commit: it cannot be rebuilt")
    return commit

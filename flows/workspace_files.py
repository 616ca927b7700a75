"""A pipeline workspace elsewhere: the project's pipeline files copied into a folder of its own,
as its own git + DVC repo, so a second configuration (the real-speech demo, a test) runs beside the
embedded default without touching its params, outputs or registry."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
# what `dvc repro` in a workspace reads: the stages' code (dvc.yaml names it as deps), the graph, params
PIPELINE_FILES = (
    "components",
    "flows",
    "dvc.yaml",
    "params.yaml",
    ".dvc/config",
    ".dvc/.gitignore",
    ".dvcignore",
    ".gitignore",
)
CODE_FILES = tuple(name for name in PIPELINE_FILES if name != "params.yaml")


def git(workspace: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=workspace, check=True, capture_output=True, text=True)
    return done.stdout


def copy_files(root: Path, names: tuple[str, ...], project: Path = PROJECT) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in names:
        source, target = project / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)
        elif not target.exists() or not filecmp.cmp(source, target, shallow=False):
            shutil.copy2(source, target)


def sync_workspace(root: Path, project: Path = PROJECT) -> Path:
    """Create the workspace (all pipeline files, a git repo) or refresh its code from the project,
    keeping its params; commits what changed, so its lineage names a clean commit.

    Raises:
        FileNotFoundError: the project's pipeline files are not beside this package (not a checkout).
    """
    if not (project / "dvc.yaml").is_file():
        raise FileNotFoundError(f"{project}: no dvc.yaml; a workspace is made from a project checkout")
    root = Path(root).resolve()
    new = not (root / "dvc.yaml").is_file()
    root.mkdir(parents=True, exist_ok=True)
    copy_files(root, PIPELINE_FILES if new else CODE_FILES, project)
    if new:
        git(root, "init", "-q")
        git(root, "config", "user.email", "workspace@speechalign.local")
        git(root, "config", "user.name", "speechalign")
    commit_changes(root, "pipeline files from the project" if new else "pipeline code refreshed")
    return root


def commit_changes(root: Path, message: str) -> None:
    """Commit everything git sees as changed in the workspace, if anything is."""
    git(root, "add", "-A")
    if git(root, "status", "--porcelain").strip():
        git(root, "commit", "-qm", message)

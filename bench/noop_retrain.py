"""A retrain with nothing changed against the full retrain before it.

Measured side by side in one run: a fresh workspace (the project's pipeline files in a temporary
folder of their own, its own git repo, DVC cache, MLflow store and Prefect home) runs
``speechalign retrain`` twice through the CLI. The first runs every stage and registers a version; the
second finds every stage's inputs unchanged, so DVC reruns nothing and nothing is registered. Prints
both wall times and their ratio; nothing here asserts a time.

``--sentences N`` and ``--steps N`` shrink the embedded demo (sentences per language, steps of the
demo LLM's text skills and of each training phase) for a quicker pass; without them the workspace
uses the project's params as ``make demo`` does (about 20 minutes on two cores).
Run: ``python -m bench.noop_retrain [--sentences N] [--steps N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def shrink(params: dict, sentences: int | None, steps: int | None) -> dict:
    """``params`` with ``sentences`` per language and ``steps`` in each training loop (the demo LLM's
    text skills and every phase), where given."""
    if sentences is not None:
        params["prepare"]["sentences_per_language"] = sentences
    if steps is not None:
        params["prepare"]["text_skills"]["steps"] = steps
        for phase in params["train"]["phases"]:
            phase["steps"] = steps
    return params


def retrain_seconds(workspace: Path) -> float:
    """Wall seconds of one ``speechalign retrain`` of ``workspace``.

    Raises:
        SystemExit: the retrain failed; its output is printed.
    """
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "retrain", "--workspace", str(workspace)],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
        raise SystemExit(f"noop retrain bench: retrain of {workspace} failed (exit {done.returncode})")
    return seconds


def main(argv: list[str] | None = None) -> None:
    from flows.workspace_files import commit_changes, sync_workspace

    parser = argparse.ArgumentParser(prog="python -m bench.noop_retrain", description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, help="sentences per language (default: params.yaml's)")
    parser.add_argument("--steps", type=int, help="steps of each training loop (default: params.yaml's)")
    parser.add_argument("--keep", type=Path, help="make the workspace here and keep it")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="speechalign-noop-"))
    try:
        workspace = sync_workspace(root)
        params_file = workspace / "params.yaml"
        params = shrink(yaml.safe_load(params_file.read_text()), args.sentences, args.steps)
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        commit_changes(workspace, "bench params")
        full = retrain_seconds(workspace)
        noop = retrain_seconds(workspace)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(
        f"no-op retrain, {params['prepare']['sentences_per_language']} sentences per language, "
        f"text skills {params['prepare']['text_skills']['steps']} steps, "
        f"phases of {[p['steps'] for p in params['train']['phases']]} steps"
    )
    print(f"  full retrain   {full:8.1f} s")
    print(f"  no-op retrain  {noop:8.1f} s")
    print(f"  no-op / full: {noop / full:.3f}x (goal <= 0.1x)")


if __name__ == "__main__":
    main()

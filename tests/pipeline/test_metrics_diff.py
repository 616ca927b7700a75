"""``dvc metrics diff`` between two commits reads every score of ``metrics/eval.json`` by task, condition
and language, and names the ones that changed: the evaluation's figures are comparable across revisions
without opening the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.labelled_utterances import labelled_utterances

REPO = Path(__file__).resolve().parents[2]
DVC = [sys.executable, "-m", "dvc"]


def eval_metrics(speech_spa: str) -> dict:
    """``eval.json`` as the evaluate stage writes it (score + transfer summary) for a small test split,
    the Spanish speech answers set to ``speech_spa`` and everything else the reference."""
    from components.config import EvaluateParams
    from components.evaluation.transfer import transfer_summary
    from components.evaluation.zero_shot import build_queries, score

    utterances = labelled_utterances(["eng", "spa"] * 3, "the cat sat on mat {i}")
    queries = build_queries(utterances, EvaluateParams())
    outputs = {c: [q.reference for q in queries] for c in ("speech", "shuffled", "untrained", "text")}
    outputs["speech"] = [speech_spa if q.task == "asr" and q.group == "spa" else q.reference for q in queries]
    report = score(queries, outputs)
    transfer = transfer_summary(report, queries, outputs, 0)
    return {"recipe": "blsp", "split": "test", **report, "transfer": transfer}


def run(root: Path, *args: str) -> str:
    done = subprocess.run(args, cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_metrics_diff_names_the_changed_scores_by_task_condition_and_language(tmp_path: Path) -> None:
    # the project's own declaration of the evaluation metrics, in a repository of their own
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    declared = {"stages": {"evaluate": {"cmd": "true", "metrics": stages["evaluate"]["metrics"]}}}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(declared), encoding="utf-8")
    run(tmp_path, "git", "init", "-q")
    run(tmp_path, *DVC, "init", "-q")
    eval_json = tmp_path / "metrics/eval.json"
    eval_json.parent.mkdir()
    for message, answer in (("first", "el gato"), ("second", "")):
        before = json.loads(eval_json.read_text()) if eval_json.is_file() else None
        eval_json.write_text(json.dumps(eval_metrics(answer)), encoding="utf-8")
        run(tmp_path, "git", "add", "-A")
        run(tmp_path, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)
    after = json.loads(eval_json.read_text())

    shown = json.loads(run(tmp_path, *DVC, "metrics", "show", "--json"))
    [(_, record)] = shown.items()
    flat = record["data"]["metrics/eval.json"]["data"]
    # every numeric score per task, condition and group is a key of its own
    for task in ("asr", "st", "intent"):
        for condition, groups in after[task].items():
            for group, figures in groups.items():
                for name, value in figures.items():
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        assert flat[task][condition][group][name] == value, (task, condition, group, name)

    diff = json.loads(run(tmp_path, *DVC, "metrics", "diff", "HEAD~1", "HEAD", "--json"))
    changed = diff["metrics/eval.json"]
    # the Spanish speech CER went from the first run's to the second's; English did not move
    assert changed["asr.speech.spa.cer"]["old"] == before["asr"]["speech"]["spa"]["cer"]
    assert changed["asr.speech.spa.cer"]["new"] == after["asr"]["speech"]["spa"]["cer"] == 1.0
    assert "asr.speech.eng.cer" not in changed and "st.speech.all.chrf" not in changed
    assert "asr.speech.all.cer" in changed

"""The retrain flow end to end on tiny models: stages, lineage, registration, the gate, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.stages.pipeline import STAGES

pytestmark = pytest.mark.slow(minutes=10)


def invoke(*args: str):
    from typer.testing import CliRunner

    from flows.cli import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def speechalign(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed console script, as a user runs it (its own process and Prefect server)."""
    command = [str(Path(sys.executable).parent / "speechalign"), *args, "--workspace", str(workspace)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def registry(workspace: Path):
    from mlflow import MlflowClient

    from components.registry.mlflow_registry import configure

    configure(workspace, "speechalign")
    return MlflowClient()


def test_first_retrain_runs_every_stage_and_registers_a_challenger(prefect_harness, workspace: Path) -> None:
    from flows.retrain import retrain

    result = retrain(workspace=str(workspace))
    assert result["stages_run"] == list(STAGES)
    assert result["registration"]["created"] and result["registration"]["alias"] == "challenger"

    client = registry(workspace)
    version = client.get_model_version_by_alias("speechalign", "challenger")
    assert str(version.version) == "1"
    lock = yaml.safe_load((workspace / "dvc.lock").read_text())
    for stage, entry in lock["stages"].items():
        for item in entry.get("deps", []) + entry.get("outs", []):
            assert version.tags[
                f"dvc.{stage}.{'deps' if item in entry.get('deps', []) else 'outs'}.{item['path']}"
            ]
    assert version.tags["onnx_parity"] == "passed"
    assert len(version.tags["git_commit"]) == 40
    assert version.tags["prefect_flow_run_id"] != "none"
    run = client.get_run(version.run_id)
    assert len(client.get_metric_history(run.info.run_id, "train.loss")) == 12
    assert "eval.asr.speech.all.wer" in run.data.metrics
    # timings and cache counts reach the run but not the DVC outputs, whose bytes must repeat
    from components.registry.run_metrics import flatten

    assert run.data.metrics["run_record.train.train_seconds"] > 0
    assert {"run_record.encode.reused", "run_record.export.text.torch_seconds"} <= set(run.data.metrics)
    for stage in ("text_skills", "encode", "train", "export"):
        keys = flatten(json.loads((workspace / "metrics" / f"{stage}.json").read_text()))
        assert not [key for key in keys if key.endswith(("seconds", "computed", "reused"))], stage
    validated = lock["stages"]["validate"]["outs"]
    validated_md5 = next(o["md5"] for o in validated if o["path"] == "data/validated")
    by_name = {d.dataset.name: d.dataset.digest for d in run.inputs.dataset_inputs}
    assert {"validated-train", "validated-dev", "validated-test"} <= set(by_name)
    assert all(by_name[f"validated-{split}"] == validated_md5[:36] for split in ("train", "dev", "test"))
    # every output went to the local DVC remote, the run holds the validation report, and the flow
    # run carries the validation, evaluation and retrain reports as markdown artifacts
    remote = workspace / ".speechalign" / "dvc-remote" / "files" / "md5"
    declared = yaml.safe_load((workspace / "dvc.yaml").read_text())["stages"]
    for stage, entry in lock["stages"].items():
        # metrics and plots are cache: false, kept in git; an out with options (persist) is a mapping
        cached = {o if isinstance(o, str) else next(iter(o)) for o in declared[stage].get("outs", [])}
        pushed = [out for out in entry.get("outs", []) if out["path"] in cached]
        assert len(pushed) == len(cached)
        for out in pushed:
            assert (remote / out["md5"][:2] / out["md5"][2:]).is_file(), out["path"]
    reports = {a.path for a in client.list_artifacts(run.info.run_id, "reports/validation")}
    assert "reports/validation/results.json" in reports
    docs = {a.path for a in client.list_artifacts(run.info.run_id, "reports/validation/data_docs")}
    assert "reports/validation/data_docs/index.html" in docs  # rendered outside the DVC output
    evaluation = {a.path for a in client.list_artifacts(run.info.run_id, "reports/eval")}
    assert {"reports/eval/transfer.md", "reports/eval/asr_cer.png", "reports/eval/st_chrf.png"} <= evaluation
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as prefect:
        keys = {a.key for a in prefect.read_artifacts()}
    assert {"validation-report", "evaluation-report", "retrain-summary"} <= keys
    # blsp improves its own objective on held-out dev utterances over the untrained adapter
    train = json.loads((workspace / "metrics/train.json").read_text())
    for name, phase in train["phases"].items():
        before, after = phase["dev_before"]["objective"], phase["dev_after"]["objective"]
        assert after < before, f"blsp phase {name}: dev objective {before:.3f} → {after:.3f}"


def test_models_and_lineage_commands_show_the_version(prefect_harness, workspace: Path) -> None:
    listing = invoke("models", "--workspace", str(workspace))
    assert listing.exit_code == 0, listing.output
    assert "challenger" in listing.output and "blsp" in listing.output

    shown = invoke("lineage", "1", "--workspace", str(workspace))
    assert shown.exit_code == 0, shown.output
    lineage = json.loads(shown.output)
    assert set(lineage["stages"]) == set(STAGES)
    assert lineage["stages"]["train"]["outs"]["models/adapter"].endswith(".dir")
    assert lineage["prefect_flow_run_id"] and lineage["mlflow_run_id"]
    # what the version was built with, and what validation said of its data
    from importlib import metadata

    assert lineage["packages"]["torch"] == metadata.version("torch")
    assert lineage["packages"]["mlflow"] == metadata.version("mlflow")
    assert lineage["machine"]["cpu"] and lineage["machine"]["gpu"] == "none"
    assert lineage["validation"]["success"] is True and lineage["validation"]["rows"] > 0


def test_the_training_benchmarks_measure_on_the_workspace(workspace: Path, monkeypatch, capsys) -> None:
    import re

    from bench import precision, target_engine, trainer_step

    monkeypatch.chdir(workspace)  # the benches change into the workspace; this puts the cwd back
    trainer_step.main(workspace, 2)
    precision.main(workspace, 1)
    target_engine.main(workspace, 6)
    out = capsys.readouterr().out
    for ratio in ("trainer / hand loop", r"speed-up \(fp32 / bf16\)", r"speed-up \(one by one / engine\)"):
        assert re.search(ratio + r": \d+\.\d+x", out), out
    asked = re.search(r"target engine, .*: (\d+) transcripts", out)
    same = re.search(r"same text: (\d+) of (\d+)", out)
    assert asked and same and same.group(1) == same.group(2) == asked.group(1), out  # greedy: the same text


def test_a_benchmark_on_a_workspace_without_encoder_states_says_what_to_run(tmp_path: Path) -> None:
    from bench import trainer_step

    with pytest.raises(SystemExit, match=r"no data/encoded, data/targets; run `make demo`"):
        trainer_step.main(tmp_path, 2)


def test_the_onnx_export_is_a_logged_model_of_its_own_linked_to_the_version(workspace: Path) -> None:
    import re

    import mlflow
    import mlflow.onnx

    version = registry(workspace).get_model_version("speechalign", "1")
    tags = version.tags
    assert re.fullmatch(r"(\d+)/\1", tags["onnx_text_parity"]), tags  # every dev clip, same text
    assert float(tags["onnx_speech_embeds_max_abs_diff"]) < 1e-4
    assert int(tags["onnx_int8_bytes"]) < int(tags["onnx_fp32_bytes"])
    graph = mlflow.onnx.load_model(tags["onnx_model_uri"])
    assert [i.name for i in graph.graph.input] == ["features", "feature_mask"]
    local = Path(mlflow.artifacts.download_artifacts(tags["onnx_model_uri"]))
    extra = {p.relative_to(local / "extra_files").as_posix() for p in (local / "extra_files").rglob("*")}
    assert {"decoder_prefill.onnx", "decoder_step.onnx", "runtime.json", "int8/decoder_step.onnx"} <= extra


def test_predict_with_the_registered_model_matches_the_workspace_model(workspace: Path) -> None:
    from components.data.audio import load_audio
    from components.modeling.speech_llm import SpeechLLM

    audio = sorted((workspace / "data/audio/eng").glob("*.wav"))[0]
    instruction = "Repeat the speech."
    result = invoke("predict", str(audio), "--instruction", instruction, "--workspace", str(workspace))
    assert result.exit_code == 0, result.output

    model = SpeechLLM.from_pretrained(
        workspace / "models/adapter",
        base_overrides={
            "encoder": str(workspace / "models/base/encoder"),
            "llm": str(workspace / "models/base/llm"),
        },
    )
    wave = load_audio(audio, model.feature_extractor.sampling_rate)
    expected = model.generate([instruction], model.speech_slots(*model.features([wave])), max_new_tokens=8)[0]
    assert result.output.rstrip("\n") == expected


# bad clip -> (samples at 16 kHz, sample value, words the one line must hold); "empty" is a 0-byte file
BAD_CLIPS = {
    "short": (160, 0.1, "shorter than"),  # 10 ms, less than the feature extractor's window
    "nan": (16000, float("nan"), "not finite"),
    "long": (
        16000 * 40,
        0.1,
        "exceeds the 10 s the encoder reads",
    ),  # past what the encoder reads, under too_long: reject
    "empty": (0, 0.0, "empty"),
}


@pytest.mark.parametrize("bad", sorted(BAD_CLIPS))
def test_predict_refuses_bad_audio_in_one_line(workspace: Path, tmp_path: Path, bad: str) -> None:
    import numpy as np
    import soundfile as sf

    samples, value, words = BAD_CLIPS[bad]
    audio = tmp_path / f"{bad}.wav"
    if bad == "empty":
        audio.write_bytes(b"")
    else:
        sf.write(audio, np.full(samples, value, dtype=np.float32), 16000, subtype="FLOAT")
    result = invoke("predict", str(audio), "--instruction", "Repeat.", "--workspace", str(workspace))
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("speechalign: error: ") and audio.name in lines[0], lines
    assert words in lines[0], lines[0]


def test_evaluate_scores_a_registered_version_as_the_stage_did_and_logs_it_to_its_run(
    workspace: Path,
) -> None:
    from mlflow import MlflowClient

    command = [str(Path(sys.executable).parent / "speechalign"), "evaluate", "--workspace", str(workspace)]
    done = subprocess.run(
        [*command, "--model", "models:/speechalign@challenger"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [folder] = (workspace / ".speechalign/evaluations").glob("speechalign-v1-*")
    data = folder.name.rpartition("-")[2]
    # the same version on the same data through the same code: the stage's own figures, to the digit
    again = json.loads((folder / "eval.json").read_text())
    stage = json.loads((workspace / "metrics/eval.json").read_text())
    assert again["asr"] == stage["asr"] and again["transfer"] == stage["transfer"]
    assert (folder / "predictions.jsonl").read_text() == (
        workspace / "reports/eval/predictions.jsonl"
    ).read_text()

    from components.registry.mlflow_registry import configure

    configure(workspace, "speechalign")
    client = MlflowClient()
    version = client.get_model_version("speechalign", "1")
    run = client.get_run(version.run_id)
    key = f"evaluation.{data}.asr.speech.all.cer"
    assert run.data.metrics[key] == stage["asr"]["speech"]["all"]["cer"]
    assert f"evaluation.{data}" in version.tags
    assert {a.path for a in client.list_artifacts(version.run_id, f"evaluations/{data}")} >= {
        f"evaluations/{data}/eval.json"
    }
    # a version that does not exist, in one line
    missing = subprocess.run([*command, "--model", "7"], capture_output=True, text=True)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        "speechalign: error: speechalign has no version 7 (RESOURCE_DOES_NOT_EXIST); see `speechalign models`"
    ]


def test_reproduce_rebuilds_the_version_from_its_commit_and_compares_every_output(workspace: Path) -> None:
    """On another thread count than the version was trained with (a worker with other cores): the data,
    the taught LLM, the targets, the weights, the export, the metrics and the reports must not depend
    on it."""
    from components.compute import THREADS_ENV, thread_count

    speechalign = str(Path(sys.executable).parent / "speechalign")
    command = [speechalign, "reproduce", "1", "--workspace", str(workspace)]
    other = {**os.environ, THREADS_ENV: "1" if thread_count() > 1 else "2"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200, env=other)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    rebuilt = workspace / ".speechalign/reproduce/speechalign-v1"
    # every stage ran again from scratch in its own clone at the version's commit
    assert (rebuilt / "dvc.lock").is_file() and "Running stage 'train'" in done.stdout
    words = [line.split() for line in done.stdout.splitlines() if line.startswith("  ")]  # the table
    lines = {w[1]: " ".join(w) for w in words if len(w) > 2 and w[0] in STAGES}
    for output in ("data/validated", "data/targets", "models/adapter", "models/onnx", "metrics/train.json"):
        assert output in lines  # the weights, the export and the metrics, each compared
    assert all(line.endswith(" same") for line in lines.values()), lines  # run records live outside DVC
    assert f"{len(lines)} of {len(lines)} outputs are bit-identical to version 1's" in done.stdout
    # a weight changed after the fact is caught: the version is not what its record says
    from mlflow import MlflowClient

    from components.registry.mlflow_registry import configure

    configure(workspace, "speechalign")
    client, tag = MlflowClient(), "dvc.train.outs.models/adapter"
    registered = client.get_model_version("speechalign", "1").tags[tag]
    client.set_model_version_tag("speechalign", "1", tag, "0" * 32 + ".dir")
    try:
        elsewhere = str(workspace / ".speechalign/reproduce/again")
        again = subprocess.run([*command, "--into", elsewhere], capture_output=True, text=True)
    finally:
        client.set_model_version_tag("speechalign", "1", tag, registered)
    assert again.returncode == 3 and "models/adapter" in again.stdout and "DIFFERS" in again.stdout
    busy = subprocess.run(command, capture_output=True, text=True)  # the first rebuild's folder is kept
    assert busy.returncode == 1 and "exists and is not empty" in busy.stderr


def test_unchanged_second_retrain_reruns_nothing_and_registers_nothing(workspace: Path) -> None:
    result = speechalign(workspace, "retrain")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stages run: none" in result.stdout
    assert "nothing changed" in result.stdout and "version 1" in result.stdout
    versions = registry(workspace).search_model_versions("name='speechalign'")
    assert [str(v.version) for v in versions] == ["1"]


@pytest.fixture
def fresh_registry(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The workspace's pipeline state, registered into an empty registry of its own."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'registry.db'}")
    yield
    mlflow.set_tracking_uri(None)


def register(workspace: Path):
    from components.config import load_params
    from components.registry.lineage import collect_lineage
    from components.registry.mlflow_registry import register_pipeline_state

    params = load_params(workspace / "params.yaml")
    return register_pipeline_state(workspace, params, collect_lineage(workspace), None, "blsp")


def test_a_registration_cut_off_leaves_a_whole_pending_version_that_the_next_run_completes(
    workspace: Path, fresh_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from components.registry.versions import RegistryError

    real_alias = MlflowClient.set_registered_model_alias

    def outage(self, *args, **kwargs):
        raise MlflowException("API request failed with 503 Service Unavailable (injected)")

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", outage)
    with pytest.raises(RegistryError) as failure:
        register(workspace)
    assert "503 Service Unavailable" in str(failure.value) and "\n" not in str(failure.value)
    client = MlflowClient()
    [partial] = client.search_model_versions("name='speechalign'")
    assert partial.tags["registration"] == "pending"
    # created whole: every lineage tag is there although the registration stopped
    assert partial.tags["lineage_fingerprint"] and partial.tags["package.torch"]
    assert any(key.startswith("dvc.train.outs.") for key in partial.tags)
    assert not client.get_model_version("speechalign", partial.version).aliases

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", real_alias)
    completed = register(workspace)
    assert completed.message.startswith("completed the interrupted registration of speechalign version 1")
    [whole] = client.search_model_versions("name='speechalign'")
    assert whole.tags["registration"] == "complete"
    assert client.get_model_version_by_alias("speechalign", "challenger").version == whole.version
    assert register(workspace).message.startswith("nothing changed")


def test_a_registry_that_cannot_be_searched_is_an_error_not_an_empty_registry(
    workspace: Path, fresh_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from components.registry.versions import RegistryError

    def broken(self, *args, **kwargs):
        raise MlflowException("API request failed with 500 Internal Server Error (injected)")

    monkeypatch.setattr(MlflowClient, "search_model_versions", broken)
    with pytest.raises(RegistryError, match="searching speechalign for pipeline state"):
        register(workspace)
    monkeypatch.undo()
    assert MlflowClient().search_registered_models() == []  # nothing was registered in its place


def test_an_unreachable_tracking_server_fails_retrain_in_one_line(workspace: Path) -> None:
    import os
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    }
    command = [str(Path(sys.executable).parent / "speechalign"), "retrain", "--workspace", str(workspace)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("speechalign: error: MLflow at http://127.0.0.1:") and "again" in last
    assert "Traceback" not in result.stdout + result.stderr


def test_bad_data_stops_before_targets_and_registers_nothing(prefect_harness, workspace: Path) -> None:
    from components.stages.pipeline import StageFailed
    from flows.retrain import retrain

    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["validate"]["languages"] = ["eng"]  # every non-English row now fails validation
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    targets = workspace / "data/targets/train.jsonl"
    targets_before = (targets.read_bytes(), targets.stat().st_mtime_ns)
    locked_before = yaml.safe_load((workspace / "dvc.lock").read_text())["stages"]["targets"]
    with pytest.raises(StageFailed) as failure:
        retrain(workspace=str(workspace))
    assert "stage validate" in str(failure.value)
    assert "spa_" in str(failure.value)  # the offending utterance ids are named
    assert "\n" not in str(failure.value)  # one line: the stage's table was printed once, above
    assert (targets.read_bytes(), targets.stat().st_mtime_ns) == targets_before  # not even re-written
    assert yaml.safe_load((workspace / "dvc.lock").read_text())["stages"]["targets"] == locked_before
    versions = registry(workspace).search_model_versions("name='speechalign'")
    assert [str(v.version) for v in versions] == ["1"]

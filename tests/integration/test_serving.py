"""``mlflow models serve -m models:/speechalign@champion`` on 127.0.0.1: the registered pyfunc answers
``POST /invocations`` as ``predict`` does, and refuses a path outside its root and an oversized request
with a 400 that says why."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.integration import servers
from tests.unit.test_serving_requests import wav

LIMITS = {"max_rows": 2, "max_audio_bytes": 200_000, "max_audio_seconds": 5.0, "audio_root": None}


def invocations(url: str, columns: list[str], rows: list[list[str]]) -> httpx.Response:
    body = {"dataframe_split": {"columns": columns, "data": rows}}
    return httpx.post(f"{url}/invocations", json=body, timeout=300)


def check_answers(url: str, clip: Path, outside: Path, tmp_path: Path, expected: list[str]) -> None:
    """The served answers against ``predict``'s, and each refusal with its status and reason."""
    from components.registry.requests import encode_file

    answer = invocations(url, ["audio", "instruction"], [[encode_file(clip), "Repeat."]])
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == expected and isinstance(expected[0], str)
    by_path = invocations(url, ["audio_path", "instruction"], [["clip.wav", "Repeat."]])
    assert by_path.status_code == 200 and by_path.json()["predictions"] == expected

    escape = invocations(url, ["audio_path", "instruction"], [[str(outside), "Repeat."]])
    assert escape.status_code == 400 and f"row 0: {outside}: outside the audio root" in escape.text
    # the client's fault, said as such: no server traceback goes back over the wire
    assert escape.json()["error_code"] == "INVALID_PARAMETER_VALUE" and "Traceback" not in escape.text
    climb = invocations(url, ["audio_path", "instruction"], [["../outside.wav", "Repeat."]])
    assert climb.status_code == 400 and "`..` is not allowed in audio_path" in climb.text
    many = invocations(url, ["audio", "instruction"], [[encode_file(clip), "Repeat."]] * 3)
    assert many.status_code == 400 and "3 rows in one request; at most 2" in many.text
    large = encode_file(wav(tmp_path / "long.wav", seconds=4.0))  # 4 s of float32: 256 kB
    heavy = invocations(url, ["audio", "instruction"], [[large, "Repeat."]])
    assert heavy.status_code == 400 and "bytes of audio; at most 200000" in heavy.text


@pytest.mark.slow
def test_the_champion_served_over_http_answers_as_predict_and_refuses_what_it_must(
    tiny_model, tiny_base_dirs: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient

    from components.registry.mlflow_registry import log_speech_model
    from components.registry.requests import encode_file

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    adapter = tmp_path / "adapter"
    tiny_model.save_pretrained(adapter)
    encoder, llm = tiny_base_dirs
    experiment = mlflow.create_experiment("serving", artifact_location=(tmp_path / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        config = {"max_new_tokens": 4, "too_long": "split", **LIMITS}
        info = log_speech_model({"adapter": str(adapter), "encoder": encoder, "llm": llm}, config)
    version = mlflow.register_model(info.model_uri, "speechalign")
    MlflowClient().set_registered_model_alias("speechalign", "champion", version.version)

    root = tmp_path / "audio-root"
    clip = wav(root / "clip.wav", seconds=1.0)
    outside = wav(tmp_path / "outside.wav", seed=1)
    logs = tmp_path / "logs"
    logs.mkdir()
    port = servers.free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "SPEECHALIGN_AUDIO_ROOT": str(root)}
    command = [str(servers.BIN / "mlflow"), "models", "serve", "-m", "models:/speechalign@champion",
               "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        with servers.http_server(command, f"{url}/ping", logs / "serve.log", env) as server:
            monkeypatch.setenv("SPEECHALIGN_AUDIO_ROOT", str(root))  # the same root in process, for predict
            loaded = mlflow.pyfunc.load_model("models:/speechalign@champion")
            expected = loaded.predict(
                pd.DataFrame({"audio": [encode_file(clip)], "instruction": ["Repeat."]})
            )
            check_answers(url, clip, outside, tmp_path, expected)
    finally:
        mlflow.set_tracking_uri(None)
    assert servers.gone(server)

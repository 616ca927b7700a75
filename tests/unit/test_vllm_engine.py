"""``targets.engine: vllm``: the worker is given the token ids whose embeddings the HF engine feeds,
with the same greedy settings, so its answers are the HF engine's; a worker without vLLM is one line.

vLLM itself is not installed here (its pins of torch and transformers are not this project's): the
worker runs against ``tests/fake_vllm``, a transformers stand-in for vLLM's offline API."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FAKE_VLLM = Path(__file__).resolve().parents[1] / "fake_vllm"


def test_the_vllm_worker_writes_what_the_hf_engine_writes(tiny_model, tiny_base_dirs, monkeypatch) -> None:
    from components.targets.generation import Request, greedy_outputs
    from components.targets.vllm_engine import VllmEngine

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(FAKE_VLLM), os.environ.get("PYTHONPATH", "")]))
    texts = ["hello world", "the quick fox", "a dog", "the quick brown fox jumps", "world"]
    requests = [Request(f"r{i}", "Continue the following text.", t) for i, t in enumerate(texts)]
    hf = greedy_outputs(tiny_model, requests, 6, batch_size=2, progress=False)
    with VllmEngine(tiny_model, tiny_base_dirs[1], "float32", seed=0) as engine:
        vllm = greedy_outputs(tiny_model, requests, 6, batch_size=2, progress=False, engine=engine)
    assert vllm == hf
    assert any(hf)  # the tiny LLM says something, so equal texts are not equally empty


def test_the_prompt_ids_are_those_the_hf_engine_embeds(tiny_model) -> None:
    import torch

    from components.targets.generation import Request
    from components.targets.vllm_engine import prompt_token_ids

    request = Request("r", "Continue the following text.", "the quick fox")
    ids = prompt_token_ids(tiny_model, request)
    table = tiny_model.llm.get_input_embeddings()
    spliced = tiny_model.splice([request.instruction], tiny_model.text_slots([request.text]))
    assert torch.equal(spliced.inputs_embeds[0], table(torch.tensor(ids)))


def test_a_worker_without_vllm_is_one_line_naming_the_engine(tiny_model, tiny_base_dirs) -> None:
    import importlib.util

    from components.targets.vllm_engine import VllmEngine

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed in this environment")

    expected = r"^targets\.engine: vllm: vllm is not importable by .*set targets\.vllm_python"
    with pytest.raises(ValueError, match=expected):
        VllmEngine(tiny_model, tiny_base_dirs[1], "float32", seed=0)


def test_the_stage_ends_its_vllm_worker_when_it_leaves_even_on_an_error(tiny_base_dirs, monkeypatch) -> None:
    from types import SimpleNamespace

    import torch

    from components.config.training import TargetsParams
    from components.modeling.prompts import BLSP_TEMPLATE
    from components.targets.engines import writing_engine
    from components.targets.vllm_engine import VllmEngine

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(FAKE_VLLM), os.environ.get("PYTHONPATH", "")]))
    encoder, llm = tiny_base_dirs
    sources = SimpleNamespace(encoder=encoder, llm=llm, prompt_template=BLSP_TEMPLATE, system_prompt=None)
    cpu = torch.device("cpu")
    vllm = TargetsParams(engine="vllm")
    with (
        pytest.raises(RuntimeError, match="a batch failed"),
        writing_engine(vllm, sources, cpu, 0) as (_, engine),
    ):
        assert isinstance(engine, VllmEngine) and engine.process.poll() is None
        worker = engine.process
        raise RuntimeError("a batch failed")
    assert worker.poll() is not None  # no worker (nor the GPU it would hold) outlives the stage
    with writing_engine(TargetsParams(), sources, cpu, seed=0) as (model, engine):
        assert engine is None and model.llm.device == cpu  # the model's own hf engine
    # a fan-out that cannot run is refused before the LLM is read: these paths do not exist
    nowhere = SimpleNamespace(
        encoder="/nowhere/e", llm="/nowhere/l", prompt_template=BLSP_TEMPLATE, system_prompt=None
    )
    fan_out = TargetsParams(workers=2, engine="vllm")
    with pytest.raises(ValueError, match=r"^targets\.workers"), writing_engine(fan_out, nowhere, cpu, 0):
        pass


HANG = "#!/bin/sh\nexec sleep 600\n"  # a worker that never answers (a GPU's initialisation stuck, say)
HOLD = """
import sys
sys.path.insert(0, {repo!r})
from components.stages.runner import exit_on_sigterm
from components.targets.vllm_engine import VllmEngine

exit_on_sigterm()
with VllmEngine(None, "llm", "float32", 0, python={python!r}, timeout_s=600):
    pass
"""


def sleepers(pid: int) -> list:
    """The ``sleep`` processes below ``pid``: the stand-in workers still alive."""
    import psutil

    return [p for p in psutil.Process(pid).children(recursive=True) if p.name() == "sleep"]


def test_a_worker_that_does_not_answer_is_stopped_after_vllm_timeout_s(tmp_path: Path) -> None:
    from components.targets.vllm_engine import VllmEngine

    hang = tmp_path / "hang"
    hang.write_text(HANG)
    hang.chmod(0o755)
    with pytest.raises(
        ValueError, match=r"^targets\.vllm_timeout_s: the vllm worker gave no answer within 1 s"
    ):
        VllmEngine(None, "llm", "float32", 0, python=str(hang), timeout_s=1)
    assert sleepers(os.getpid()) == []


def test_a_stopped_stage_ends_its_vllm_worker(tmp_path: Path) -> None:
    """SIGTERM (a time limit) ends the stage through its ``with`` blocks: the worker, in a process group
    of its own that the signal does not reach, goes with it."""
    import signal
    import subprocess
    import sys
    import time

    hang = tmp_path / "hang"
    hang.write_text(HANG)
    hang.chmod(0o755)
    repo = str(Path(__file__).resolve().parents[2])
    stage = subprocess.Popen([sys.executable, "-c", HOLD.format(repo=repo, python=str(hang))])
    workers = []
    try:
        deadline = time.monotonic() + 120
        while not workers and stage.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            workers = sleepers(stage.pid)
        [worker] = workers
        stage.send_signal(signal.SIGTERM)
        assert stage.wait(timeout=60) == 128 + signal.SIGTERM
        worker.wait(timeout=30)  # psutil: returns once the process is gone
        assert not worker.is_running()
    finally:  # a failure leaves no stage or stand-in behind for the next test
        for process in workers:
            if process.is_running():
                process.kill()
        stage.kill()
        stage.wait()

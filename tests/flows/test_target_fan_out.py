"""``targets.workers``: target batches fanned out as Prefect tasks on a local Dask cluster give the
single-process engine's outputs, each batch saved to the shard store by the worker that wrote it."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TEXTS = ["hello world", "the quick fox", "a dog", "the quick brown fox jumps", "world", "a quick dog"]


def test_fanned_out_batches_write_the_single_process_outputs(
    prefect_harness, tiny_base_dirs, tmp_path: Path
) -> None:
    from components.modeling.speech_llm import SpeechLLM
    from components.targets.fan_out import DaskFanOut, WriterSpec
    from components.targets.generation import Request, greedy_outputs
    from components.targets.shards import ShardStore

    model = SpeechLLM.from_base(*tiny_base_dirs)
    requests = [Request(f"r{i}", "Continue the following text.", t) for i, t in enumerate(TEXTS)]
    alone = greedy_outputs(model, requests, 6, batch_size=2, progress=False)

    spec = WriterSpec(*tiny_base_dirs, model.template, model.system_prompt, "fp32")
    shards = ShardStore(tmp_path / "shards", "run")
    fanned = greedy_outputs(
        model, requests, 6, batch_size=2, progress=False, shards=shards, engine=DaskFanOut(spec, workers=2)
    )
    assert fanned == alone and any(alone)
    assert len(list((tmp_path / "shards").glob("batch-*.json"))) == 3  # each worker saved its batches
    assert shards.reused == 0  # written by the fan-out, not read back as if from a stopped run

    # a run started again finds every batch saved: the fan-out is given nothing to write
    class NothingLeft(DaskFanOut):
        def write_batches(self, batches, max_new_tokens, shards):
            assert not batches
            return []

    again = ShardStore(tmp_path / "shards", "run")
    assert (
        greedy_outputs(model, requests, 6, 2, progress=False, shards=again, engine=NothingLeft(spec, 2))
        == alone
    )
    assert again.reused == 3


def test_the_targets_stage_fans_out_only_on_cpu_workers_with_the_hf_engine() -> None:
    from types import SimpleNamespace

    from components.config import Params
    from components.targets.engines import fan_out_engine
    from components.targets.fan_out import DaskFanOut

    sources = SimpleNamespace(encoder="enc", llm="llm", prompt_template="T {instruction}", system_prompt=None)
    params = Params.model_validate({"targets": {"workers": 3, "precision": "bf16"}})
    engine = fan_out_engine(params.targets, sources, "cpu")
    assert isinstance(engine, DaskFanOut) and engine.workers == 3 and engine.address is None
    assert (engine.spec.encoder, engine.spec.llm, engine.spec.precision) == ("enc", "llm", "bf16")
    with pytest.raises(ValueError, match=r"^targets\.workers: the Dask fan-out writes on CPU workers"):
        fan_out_engine(params.targets, sources, "cuda")
    vllm = Params.model_validate({"targets": {"workers": 2, "engine": "vllm"}})
    with pytest.raises(ValueError, match=r"^targets\.workers"):
        fan_out_engine(vllm.targets, sources, "cpu")

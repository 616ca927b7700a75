"""Mixed precision and CPU threads: bf16 autocast reaches the LLM's forward passes in training,
target writing and evaluation, the weights that train stay float32, and threads follow the cores."""

from __future__ import annotations

import pytest

from tests.noise_examples import noise_examples


def tiny_run(tiny_base_dirs, precision: str):
    """Four steps of CE training on noise clips; returns the model, the result and the dtypes the
    LLM's output layer produced during those steps."""
    from components.config import TrainParams
    from components.modeling.speech_llm import SpeechLLM
    from components.seeding import seed_everything
    from components.training.trainer import train_recipe

    params = TrainParams(
        batch_size=3,
        warmup_steps=1,
        lr=3e-3,
        precision=precision,
        lora={"r": 4},
        phases=[{"name": "only", "steps": 4, "tasks": {"asr": 1.0}, "train": ["adapter", "lora"]}],
    )
    seed_everything(params.seed)
    model = SpeechLLM.from_base(*tiny_base_dirs, params.adapter, params.lora, params.seed)
    examples = noise_examples(model, ["hello world", "the quick fox", "a dog"], [30000, 36000, 42000])
    model._head_split()  # the one-off check of the target-logits split runs in fp32 on purpose
    seen = []
    hook = model.llm.get_output_embeddings().register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    result = train_recipe(model, examples, examples[:2], params, progress=False)
    hook.remove()
    return model, result, set(seen)


def test_bf16_autocasts_the_forward_passes_and_keeps_float32_weights(tiny_base_dirs) -> None:
    import torch

    model, bf16, dtypes = tiny_run(tiny_base_dirs, "bf16")
    assert dtypes == {torch.bfloat16}
    trained = [p for members in model.parameter_groups().values() for p in members]
    assert trained and all(p.dtype == torch.float32 for p in trained)  # fp32 master weights
    assert all(torch.isfinite(torch.tensor(s["loss"])) for s in bf16.steps)

    _, fp32, dtypes = tiny_run(tiny_base_dirs, "fp32")
    assert dtypes == {torch.float32}
    # the same seed and batches: only the precision differs, and it shows in the losses
    assert [s["loss"] for s in bf16.steps] != [s["loss"] for s in fp32.steps]
    _, again, _ = tiny_run(tiny_base_dirs, "bf16")
    assert again.steps == bf16.steps  # bf16 on a CPU is as reproducible as fp32


def test_evaluation_answers_under_its_precision(monkeypatch) -> None:
    import torch

    from components.config import Params
    from components.stages import evaluate

    seen = []
    monkeypatch.setattr(evaluate, "evaluate", lambda params: seen.append(torch.is_autocast_enabled("cpu")))
    for precision, expected in (("bf16", True), ("fp32", False)):
        evaluate.main(Params.model_validate({"evaluate": {"precision": precision}}))
        assert seen.pop() is expected


def test_targets_are_written_under_their_precision(monkeypatch, tmp_path) -> None:
    import torch

    from components.config import Params
    from components.stages import targets

    seen = []

    def split_targets(params, utterances, languages, model, generator, shards, engine=None):
        seen.append(torch.is_autocast_enabled("cpu"))
        return targets.GeneratedRows([], 0)

    class Sources:
        def model_id(self, role, named):
            return "llm"

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(targets, "split_targets", split_targets)
    monkeypatch.setattr(targets, "read_sources", lambda: Sources())
    monkeypatch.setattr(targets, "read_sources_record", lambda: {"llm": "llm"})
    monkeypatch.setattr(targets, "read_manifest", lambda split, root: [])
    for precision, expected in (("bf16", True), ("fp32", False)):
        params = Params.model_validate(
            {
                "targets": {
                    "source": "transcripts",
                    "instruction": "Write down these words.",
                    "precision": precision,
                }
            }
        )
        targets.main(params)
        assert seen == [expected, expected]  # train and dev
        seen.clear()


def test_an_unknown_precision_is_refused_by_name() -> None:
    from components.config import ParamsError, parse_params

    with pytest.raises(ParamsError, match="train.precision"):
        parse_params({"train": {"precision": "fp16"}})


def test_threads_follow_the_usable_cores_or_the_override(monkeypatch) -> None:
    import os

    import torch

    from components.compute import THREADS_ENV, set_threads, thread_count, usable_cores

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv(THREADS_ENV, raising=False)
        assert 1 <= usable_cores() <= len(os.sched_getaffinity(0))
        assert set_threads() == usable_cores() == torch.get_num_threads()
        monkeypatch.setenv(THREADS_ENV, "1")
        assert set_threads() == 1 == torch.get_num_threads()
        monkeypatch.setenv(THREADS_ENV, str(8 * (os.cpu_count() or 1)))  # oversubscribed on purpose
        assert thread_count() == 8 * (os.cpu_count() or 1)
        for bad in ("0", "two", "-1", str(8 * (os.cpu_count() or 1) + 1), "10" * 12):
            monkeypatch.setenv(THREADS_ENV, bad)
            with pytest.raises(ValueError, match=THREADS_ENV):
                thread_count()
    finally:
        torch.set_num_threads(before)


def test_a_cgroup_quota_caps_the_cores(tmp_path) -> None:
    from components.compute import cgroup_quota

    limit = tmp_path / "cpu.max"
    for text, cores in [("150000 100000\n", 2), ("50000 100000", 1), ("max 100000", None), ("", None)]:
        limit.write_text(text)
        assert cgroup_quota(limit) == cores, text
    assert cgroup_quota(tmp_path / "missing") is None


def test_auto_precision_is_bf16_only_where_the_cpu_computes_it(tmp_path, monkeypatch) -> None:
    import torch

    from components import compute

    amd = tmp_path / "epyc"
    amd.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t: avx2\n")
    sapphire = tmp_path / "sapphire"
    sapphire.write_text("processor\t: 0\nflags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n")
    assert not compute.cpu_has_bf16(amd) and compute.cpu_has_bf16(sapphire)
    assert not compute.cpu_has_bf16(tmp_path / "missing")  # no /proc (another OS): fp32

    for has, expected in ((False, "fp32"), (True, "bf16")):
        monkeypatch.setattr(compute, "native_bf16", lambda device_type="cpu", has=has: has)
        assert compute.resolve_precision("auto") == expected
        assert compute.resolve_precision("fp32") == "fp32" and compute.resolve_precision("bf16") == "bf16"
        with compute.precision_scope("auto"):
            assert torch.is_autocast_enabled("cpu") == (expected == "bf16")

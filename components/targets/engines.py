"""Which engine writes the targets, and the writing LLM placed for it: ``targets.engine``,
``targets.workers`` and ``targets.dask_address`` read in one place.

- ``hf`` (the default): the speech LLM's own ``generate``, on ``targets.device`` in ``targets.precision``;
- ``vllm``: a vLLM worker process holds the weights on the GPU (:mod:`components.targets.vllm_engine`),
  and the HF model stays on the CPU for its tokenizer and prompt layout;
- ``workers`` > 1 or ``dask_address``: batches fanned out to Dask workers with the hf engine
  (:mod:`components.targets.fan_out`), each worker loading the LLM itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from components.compute import resolve_precision
from components.config.training import TargetsParams
from components.modeling.placement import place_model
from components.targets.fan_out import DaskFanOut, WriterSpec
from components.targets.generation import Engine
from components.targets.vllm_engine import VllmEngine, vllm_dtype


def fans_out(t: TargetsParams) -> bool:
    """Whether ``t`` asks for the Dask fan-out (more than one worker, or a scheduler's address)."""
    return t.workers > 1 or bool(t.dask_address)


def fan_out_engine(t: TargetsParams, sources: Any, device_type: str) -> DaskFanOut:
    """The Dask fan-out of ``targets.workers`` / ``targets.dask_address``: CPU workers, the hf engine.

    ``sources`` holds the base models' ``encoder`` and ``llm`` paths and the prompt layout
    (``prompt_template``, ``system_prompt``), as :func:`~components.modeling.base_models.read_sources`
    gives them.

    Raises:
        ValueError: combined with ``targets.engine: vllm`` or a CUDA device (one line naming the keys).
    """
    if t.engine == "vllm" or device_type == "cuda":
        raise ValueError(
            "targets.workers: the Dask fan-out writes on CPU workers with the hf engine; set "
            "targets.workers: 1 for a GPU or vLLM, or targets.device: cpu and targets.engine: hf"
        )
    precision = resolve_precision(t.precision, "cpu")  # the driver's: the shards' key holds it
    spec = WriterSpec(sources.encoder, sources.llm, sources.prompt_template, sources.system_prompt, precision)
    return DaskFanOut(spec, t.workers, t.dask_address)


@contextlib.contextmanager
def writing_engine(
    t: TargetsParams, sources: Any, device: Any, seed: int
) -> Iterator[tuple[Any, Engine | None]]:
    """The writing speech LLM and the engine ``t`` asks for (``None``: the model's own hf engine), the
    engine's resources released on exit (a vLLM worker process is ended).

    A fan-out that cannot run is refused before the LLM is loaded, so a misconfigured stage fails in
    seconds. ``device`` is a ``torch.device``; ``seed`` is vLLM's.

    Raises:
        ValueError: as :func:`fan_out_engine`; a vLLM worker that cannot start (one line).
    """
    from components.modeling.speech_llm import SpeechLLM

    with contextlib.ExitStack() as stack:
        engine: Engine | None = fan_out_engine(t, sources, device.type) if fans_out(t) else None
        model = SpeechLLM.from_base(
            sources.encoder,
            sources.llm,
            template=sources.prompt_template,
            system_prompt=sources.system_prompt,
        )
        if engine is None and t.engine == "vllm":
            dtype = vllm_dtype(t.precision, device.type)
            engine = stack.enter_context(
                VllmEngine(model, sources.llm, dtype, seed, t.vllm_python, t.vllm_timeout_s)
            )
        elif engine is None:
            place_model(model, device, t.precision)
        yield model, engine

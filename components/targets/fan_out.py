"""Target batches fanned out as Prefect tasks on a Dask cluster (``targets.workers`` > 1).

Prefect's ``DaskTaskRunner`` (prefect-dask) runs one task per batch on a local cluster of worker
processes or, with ``targets.dask_address``, on a running Dask scheduler's workers on other machines.
Each worker loads the frozen LLM once and writes its batches with the Hugging Face engine, on the CPU
with its share of the cores; every finished batch is saved to the run's shard store by the worker
that wrote it, so a stopped fan-out resumes as a stopped single-process run does. The batches are
those the single-process engine forms (same order, same members), so the outputs are its outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from components.compute import precision_scope, thread_count
from components.targets.generation import Request, hf_engine
from components.targets.shards import ShardStore


@dataclass(frozen=True)
class WriterSpec:
    """What a worker needs to build the writing LLM: the base models and the prompt layout."""

    encoder: str  # paths (or cached ids) that must resolve on every worker's machine
    llm: str
    template: str
    system_prompt: str | None
    precision: Literal["fp32", "bf16"]  # as the driver resolved it: the shards' key says this one


_MODELS: dict[WriterSpec, Any] = {}  # per worker process: the LLM is loaded once, not once per batch


def worker_model(spec: WriterSpec) -> Any:
    from components.modeling.speech_llm import SpeechLLM

    if spec not in _MODELS:
        _MODELS[spec] = SpeechLLM.from_base(
            spec.encoder, spec.llm, template=spec.template, system_prompt=spec.system_prompt
        )
    return _MODELS[spec]


def write_batch(
    spec: WriterSpec,
    batch: Sequence[Request],
    max_new_tokens: int,
    shard_dir: str | None,
    run_key: str,
    threads: int | None,
) -> list[str]:
    """One batch's greedy answers, written in this process and saved to the shard store (where
    ``shard_dir`` is a folder this worker can reach; the driver saves what is missing after)."""
    import torch

    torch.set_num_threads(threads or thread_count())
    model = worker_model(spec)
    with precision_scope(spec.precision):
        answers = hf_engine(model)(batch, max_new_tokens)
    if shard_dir is not None and Path(shard_dir).is_dir():
        ShardStore(Path(shard_dir), run_key).save(batch, answers)
    return answers


class DaskFanOut:
    """An engine whose :meth:`write_batches` writes many batches at once as Prefect tasks on Dask.

    ``workers`` worker processes on this machine (the usable cores shared among them), or the workers
    of the Dask scheduler at ``address`` (each with its machine's usable cores: one worker process per
    machine), on which the spec's model paths must resolve.
    """

    def __init__(self, spec: WriterSpec, workers: int, address: str | None = None) -> None:
        self.spec = spec
        self.workers = workers
        self.address = address

    def __call__(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        return self.write_batches([requests], max_new_tokens, None)[0]

    def threads(self) -> int | None:
        """Torch threads per worker: this machine's usable cores shared among a local cluster's
        workers; None (the worker's own usable cores) on a remote cluster."""
        return None if self.address else max(1, thread_count() // self.workers)

    def write_batches(
        self, batches: Sequence[Sequence[Request]], max_new_tokens: int, shards: ShardStore | None
    ) -> list[list[str]]:
        """Every batch's answers, in order; each task saves its batch to ``shards`` as it finishes.

        Raises:
            ValueError: a task failed (one line naming ``targets.workers`` and the cause).
        """
        if not batches:
            return []
        from prefect import flow, task, unmapped
        from prefect_dask import DaskTaskRunner

        runner = (
            DaskTaskRunner(address=self.address)
            if self.address
            else DaskTaskRunner(
                cluster_kwargs={"n_workers": self.workers, "threads_per_worker": 1, "processes": True}
            )
        )
        write = task(write_batch, name="write-target-batch")
        shard_dir = str(shards.directory.resolve()) if shards is not None else None
        run_key = shards.run_key if shards is not None else ""

        @flow(name="write-targets", task_runner=runner, log_prints=False)
        def fan_out() -> list[list[str]]:
            futures = write.map(
                unmapped(self.spec),
                [list(batch) for batch in batches],
                unmapped(max_new_tokens),
                unmapped(shard_dir),
                unmapped(run_key),
                unmapped(self.threads()),
            )
            return [future.result() for future in futures]

        try:
            return fan_out()
        except (
            Exception
        ) as exc:  # a worker's error, or the cluster's: one line, the batches saved so far kept
            raise ValueError(f"targets.workers: the fan-out of {len(batches)} batches failed: {exc}") from exc

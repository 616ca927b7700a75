"""Data-parallel training over processes (``torchrun``): each rank trains on its own share of every batch
and the ranks average their gradients before each optimiser step.

This is DistributedDataParallel's arithmetic (Li et al. 2020, "PyTorch Distributed"), done by hand on
the trainables only: the frozen encoder and LLM never have gradients, and the trainable groups change
from phase to phase, which DDP's fixed set of parameters does not allow. Every rank builds the same
model from the same seed and draws the same global batch from the same sampler; rank ``r`` of ``n``
keeps rows ``r, r + n, …`` of it, so the ranks read different examples and together read the batch one
process would. The gradients are averaged in one all-reduce per step (one flat buffer), and so is the
loss, so every rank logs the same loss and takes the same step. Each rank's loss is the mean over its
own rows' target tokens, so the average of the ranks' means equals one process's mean only where the
shares hold equal token counts; elsewhere the step differs slightly. A parameter no rank gave a
gradient keeps none, as in one process (AdamW leaves it, weight decay included). The processes talk
over ``gloo``, which serves CPU tensors (on GPUs the gradients go through host memory); dropout draws
the same streams on every rank (one seed).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes: ``rank`` of ``size`` (one process: 0 of 1)."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """The rank that writes outputs, checkpoints and logs."""
        return self.rank == 0

    def shard(self, batch: Sequence[T]) -> list[T]:
        """This rank's rows of a global batch."""
        return list(batch[self.rank :: self.size])

    def average(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` averaged over the ranks, in place (unchanged with one process)."""
        if self.size > 1:
            import torch.distributed as dist

            dist.all_reduce(tensor)
            tensor /= self.size
        return tensor

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is set on any rank: a stop one rank was asked for is taken by all at once."""
        if self.size == 1:
            return flag
        import torch.distributed as dist

        value = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def barrier(self) -> None:
        if self.size > 1:
            import torch.distributed as dist

            dist.barrier()


def average_gradients(parameters: Sequence[torch.nn.Parameter], world: World) -> None:
    """Replace each parameter's gradient with its mean over the ranks (missing on one rank counts as
    zero there), in one all-reduce of a flat buffer; a parameter no rank gave a gradient keeps none."""
    if world.size == 1:
        return
    has_grad = world.average(torch.tensor([float(p.grad is not None) for p in parameters]))
    used = [p for p, flag in zip(parameters, has_grad.tolist(), strict=True) if flag > 0]
    for parameter in used:
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
    grads = [parameter.grad for parameter in used]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    flat = world.average(flat.cpu()).to(flat.device)  # gloo reduces host memory; a no-op on the CPU
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
        offset += grad.numel()


def check_batch(batch_size: int, world: World) -> None:
    """Each rank takes an equal share of the global batch, so it must divide by the ranks.

    Raises:
        ValueError: naming ``train.batch_size`` and the number of processes.
    """
    if batch_size % world.size:
        raise ValueError(
            f"train.batch_size: {batch_size} rows do not split evenly over {world.size} processes; "
            f"use a multiple of {world.size}"
        )


def join_world() -> World:
    """The world ``torchrun`` (or any launcher setting ``RANK`` and ``WORLD_SIZE``) started this process
    in, its process group initialised; one process alone otherwise. CPU tensors go over ``gloo`` (the
    gradients are averaged there, through host memory on GPUs, which NCCL does not serve); where torch
    sees a GPU, its tensors (the sharded layers' gathers of ``train.fsdp``) go over NCCL."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    import torch.distributed as dist

    if not dist.is_initialized():
        gpus = torch.cuda.is_available() and dist.is_nccl_available()
        dist.init_process_group("cpu:gloo,cuda:nccl" if gpus else "gloo")
    return World(dist.get_rank(), dist.get_world_size())


def leave_world(world: World) -> None:
    if world.size > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()

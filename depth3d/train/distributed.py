"""Process-group helpers for ``torchrun`` (DistributedDataParallel): gloo on CPU, nccl on CUDA.

A run started by ``torchrun --nproc_per_node N -m depth3d train ...`` sees ``WORLD_SIZE``/``RANK``/
``LOCAL_RANK`` in its environment; :func:`init` creates the process group from them. Without them the
trainer runs as a single process (world size 1, rank 0) and no group is created.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn


@dataclass
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size``, ``local_rank`` on its node, and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that writes files and shows progress bars."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init(device: str = "cpu") -> DistInfo:
    """Join the process group described by torchrun's environment variables (if any).

    device: "cpu" (backend gloo) or "cuda" (backend nccl, one GPU per local rank)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda requested but torch has no usable CUDA device")
        torch.cuda.set_device(local % torch.cuda.device_count())
        dev = torch.device("cuda", torch.cuda.current_device())
    elif device == "cpu":
        dev = torch.device("cpu")
    else:
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    here = False
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device == "cuda" else "gloo")
        here = True
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev, initialized_here=here)


def shutdown(info: DistInfo) -> None:
    """Destroy the process group if :func:`init` created it."""
    if info.initialized_here and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.barrier()


def all_reduce_sums(values: dict[str, tuple[float, float]], info: DistInfo) -> dict[str, tuple[float, float]]:
    """Sum ``{name: (sum, count)}`` over all ranks (identity in a single process)."""
    if not info.distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([[values[k][0], values[k][1]] for k in keys], dtype=torch.float64,
                     device=info.device if info.device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    return {k: (float(t[i, 0]), float(t[i, 1])) for i, k in enumerate(keys)}


def agree_max(value: int, info: DistInfo) -> int:
    """The largest ``value`` over all ranks (one small all-reduce; ``value`` itself in a single process).

    Every rank must call it at the same point: it is how ranks agree on a decision one of them made."""
    if not info.distributed:
        return int(value)
    t = torch.tensor([int(value)], dtype=torch.int64, device=info.device if info.device.type == "cuda" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def all_gather_object(obj, info: DistInfo) -> list:
    """A list with every rank's ``obj`` (rank order); ``[obj]`` in a single process."""
    if not info.distributed:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


class _AllReduceSum(torch.autograd.Function):
    """Differentiable sum over ranks: forward all-reduces the input, backward all-reduces the gradient (every
    rank's output depends on every rank's input)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(y, op=dist.ReduceOp.SUM)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        g = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(g, op=dist.ReduceOp.SUM)
        return g


def all_reduce_sum_differentiable(x: torch.Tensor) -> torch.Tensor:
    """``x`` summed over all ranks, with gradients (a plain ``dist.all_reduce`` has none)."""
    return _AllReduceSum.apply(x)


class _CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose batch statistics are summed over all ranks with a differentiable all-reduce.

    ``torch.nn.SyncBatchNorm`` only runs on GPUs; this one runs on CPU (gloo), so an N-process run with
    global batch B computes the same statistics (and gradients) as one process with batch B."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (N, C, ...), got {input.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        n_local = torch.tensor(float(x.numel() // x.shape[1]), dtype=x.dtype)
        s = x.sum(dims)
        sq = (x * x).sum(dims)
        packed = all_reduce_sum_differentiable(torch.cat([s, sq, n_local.reshape(1)]))
        c = x.shape[1]
        n = packed[-1]
        mean = packed[:c] / n
        var = (packed[c:2 * c] / n - mean * mean).clamp_min(0)
        with torch.no_grad():
            if self.track_running_stats and self.running_mean is not None:
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach() * m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / (n - 1).clamp_min(1)) * m)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x - mean.reshape(shape)) * torch.rsqrt(var.reshape(shape) + self.eps)
        if self.affine:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        return y


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm layer by a synchronised one (torch.nn.SyncBatchNorm on CUDA, an all-reduce
    BatchNorm on CPU) keeping parameters, buffers and module names (state dicts stay compatible)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)

    def convert(module: nn.Module) -> nn.Module:
        out = module
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, _CPUSyncBatchNorm):
            out = _CPUSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                    module.track_running_stats)
            if module.affine:
                with torch.no_grad():
                    out.weight.copy_(module.weight)
                    out.bias.copy_(module.bias)
            if module.track_running_stats:
                out.running_mean.copy_(module.running_mean)
                out.running_var.copy_(module.running_var)
                out.num_batches_tracked.copy_(module.num_batches_tracked)
            out.train(module.training)
        for name, child in module.named_children():
            out.add_module(name, convert(child))
        return out

    return convert(model)

"""Data-parallel ranks of one run: torch.distributed (NCCL on GPUs, gloo on CPU), as torchrun or srun start them.

Each rank takes a fixed slice of every global minibatch (tasks.Task.local). After backward() the ranks'
gradients are averaged by ONE all-reduce of the flat gradient buffer, always the same tensor in the same
parameter order. That is what DistributedDataParallel does with a single bucket, minus its bucket
rebuilding: DDP lays its buckets out in parameter order for the first step and in gradient-ready order
from the second, so a replay that starts at a checkpoint reduces its first step in another layout than the
reference pass did at that step. gloo's ring all-reduce then adds the ranks in another order per element
and, from 3 ranks on, rounds differently: measured, replay from a mid-run checkpoint differs at world size
3 and 4 under DDP (any bucket size, static_graph too) and is exact with the fixed flat all-reduce
(bench/ddp_determinism.py). Where a rank's buffers (BatchNorm statistics) matter, rank 0's are the run's,
as DDP's broadcast_buffers makes them: rank 0 writes every checkpoint and evaluates.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch


@dataclass(frozen=True)
class Group:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


_GROUP = Group()


def group() -> Group:
    """This process's place among the run's ranks (rank 0 of 1 outside a distributed launch)."""
    return _GROUP


def init(device_type: str) -> Group:
    """Join the run's process group (torchrun's or srun's environment: RANK, WORLD_SIZE, LOCAL_RANK,
    MASTER_ADDR, MASTER_PORT). NCCL for GPUs, gloo for CPUs."""
    global _GROUP
    import torch.distributed as dist

    rank, size, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    if device_type == "cuda":  # NCCL binds each rank's communicator to its GPU: this rank's, from the start
        torch.cuda.set_device(local % torch.cuda.device_count())
    if not dist.is_initialized():
        # A collective waits this long for every rank (default 10 min): rank 0 alone evaluates and writes
        # checkpoints meanwhile, which on ImageNet and a slow shared file system can take minutes. A rank
        # that dies ends the job sooner: its launcher (torchrun, srun --kill-on-bad-exit) stops the others.
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo", rank=rank, world_size=size,
                                timeout=timedelta(minutes=60))
    _GROUP = Group(rank, size, local)
    return _GROUP


def shutdown() -> None:
    global _GROUP
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
    _GROUP = Group()


ALIGN = 64  # slices start at multiples of 64 elements (256 bytes in float32): aligned, vectorized loads


def shard(n: int, g: Group | None = None) -> slice:
    """The contiguous slice of an n-vector this rank measures: near-equal parts in rank order."""
    g = g or group()
    unit = ALIGN if n >= ALIGN * g.world_size else 1

    def cut(r: int) -> int:
        return n if r == g.world_size else r * n // g.world_size // unit * unit

    return slice(cut(g.rank), cut(g.rank + 1))


def average_(tensor: torch.Tensor) -> torch.Tensor:
    """In place: the mean of the ranks' tensors (one all-reduce, then a division by the world size)."""
    if group().active:
        import torch.distributed as dist

        dist.all_reduce(tensor)
        tensor.div_(group().world_size)
    return tensor


def broadcast(value):
    """Rank 0's value of a picklable object, on every rank."""
    if not group().active:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if group().active:
        import torch.distributed as dist

        dist.barrier()


def check_same(tensor: torch.Tensor, what: str) -> None:
    """Fail on every rank unless all hold the same bits (as DDP checks its parameters when it starts): each
    rank's checksum of the tensor, compared. Catches a rank that built or loaded other weights."""
    if not group().active:
        return
    import torch.distributed as dist

    from nowrongturns.storage.files import content_digest

    digests = [None] * group().world_size
    dist.all_gather_object(digests, content_digest(tensor))
    differ = [r for r, d in enumerate(digests) if d != digests[0]]
    if differ:
        who = f"ranks {', '.join(map(str, differ))} hold" if len(differ) > 1 else f"rank {differ[0]} holds"
        raise RuntimeError(f"{what} differ between the ranks: {who} other values than rank 0 "
                           f"(of {group().world_size} ranks)")


def sum_over_ranks(arrays: dict[str, np.ndarray], device: torch.device) -> dict[str, np.ndarray]:
    """{name: the sum over ranks of each rank's float64 array}, on every rank, added in rank order
    (0 + 1 + 2 ...): the same bits whichever rank computes it, run after run. One all-gather for all."""
    if not group().active:
        return arrays
    import torch.distributed as dist

    names = sorted(arrays)
    flat = np.concatenate([np.asarray(arrays[k], dtype=np.float64).reshape(-1) for k in names])
    # NCCL gathers device tensors only; gloo CPU tensors.
    mine = torch.from_numpy(flat).to(device)
    parts = [torch.empty_like(mine) for _ in range(group().world_size)]
    dist.all_gather(parts, mine)
    total = parts[0].cpu().numpy().copy()
    for part in parts[1:]:
        total += part.cpu().numpy()
    out, offset = {}, 0
    for k in names:
        shape = np.shape(arrays[k])
        size = int(np.prod(shape))
        out[k] = total[offset:offset + size].reshape(shape)
        offset += size
    return out


def run_local(fn, ranks: int, *args) -> dict:
    """{rank: fn(*args)} of fn run in `ranks` fresh processes joined as one gloo group on this machine, one
    thread each: for tests and benchmarks (runs start their ranks with launch.py). fn: a module's function."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = mp.get_context("spawn").Queue()
    mp.start_processes(_local_rank, args=(ranks, port, fn, args, out), nprocs=ranks, start_method="spawn")
    return dict(out.get() for _ in range(ranks))


def _local_rank(rank, ranks, port, fn, args, out):
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(ranks),
                      LOCAL_RANK=str(rank))
    if ranks > 1:
        init("cpu")
    out.put((rank, fn(*args)))
    shutdown()

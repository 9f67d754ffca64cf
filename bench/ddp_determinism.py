"""Is a replay from a mid-run checkpoint bitwise equal to the uninterrupted run, under gloo on CPU?

For each world size: train 2K SGD steps on data-parallel ranks; separately train K steps, take the state
(a checkpoint), start a fresh process group from it and train K more. Compare the final weights.
  ddp:  torch's DistributedDataParallel (its default 25 MB buckets, here one bucket of all parameters)
  flat: what nowrongturns does (distributed.py): one all_reduce of the flat gradient buffer, parameter order.

    python bench/ddp_determinism.py            # world sizes 2, 3, 4; about a minute on 2 cores
"""
from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist
from torch import nn

STEPS, BATCH, WIDTH = 40, 96, 256  # K = STEPS // 2


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH), nn.ReLU(), nn.Linear(WIDTH, 10))


def _batch(step, rank, ranks):
    gen = torch.Generator().manual_seed(1000 + step)
    x, y = torch.randn(BATCH, 64, generator=gen), torch.randint(0, 10, (BATCH,), generator=gen)
    part = slice(rank * BATCH // ranks, (rank + 1) * BATCH // ranks)
    return x[part], y[part]


def _train(mode, rank, ranks, state, first, last):
    from nowrongturns.train.flat import FlatParams

    model = _model()
    if state is not None:
        model.load_state_dict(state)
    if mode == "ddp":
        net = nn.parallel.DistributedDataParallel(model)
        params = list(model.parameters())
    else:
        net, flat = model, FlatParams(model)
        params = flat.params
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.0)
    for step in range(first, last):
        x, y = _batch(step, rank, ranks)
        opt.zero_grad(set_to_none=False) if mode == "flat" else opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        if mode == "flat":
            dist.all_reduce(flat.grad)
            flat.grad.div_(ranks)
        opt.step()
    return {k: v.clone() for k, v in model.state_dict().items()}


def _rank(ranks, mode):
    rank = dist.get_rank()
    whole = _train(mode, rank, ranks, None, 0, STEPS)
    half = _train(mode, rank, ranks, None, 0, STEPS // 2)
    resumed = _train(mode, rank, ranks, half, STEPS // 2, STEPS)  # new DDP object: buckets laid out afresh
    return max(float((whole[k] - resumed[k]).abs().max()) for k in whole)


def main(sizes=(2, 3, 4)):
    from nowrongturns.parallel.distributed import run_local

    print(f"max |w(uninterrupted) - w(resumed at step {STEPS // 2})| after {STEPS} steps, gloo on CPU:")
    for ranks in sizes:
        row = [run_local(_rank, ranks, ranks, mode)[0] for mode in ("ddp", "flat")]
        print(f"  world size {ranks}: DDP {row[0]:.3e}   flat all-reduce {row[1]:.3e}")


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    main(tuple(int(a) for a in sys.argv[1:]) or (2, 3, 4))

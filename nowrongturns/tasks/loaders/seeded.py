"""Per-sample randomness for file-backed data sets, as a pure function of (seed, epoch, position in the epoch).

The sampler hands out (index, sample_seed) keys, so the augmentation a sample gets cannot depend on which
worker decodes it, on how many workers there are, or on what ran before in that worker. The DataLoader gets
its own generator so it never draws from, or advances, the process's global RNG; and no persistent workers,
so a run resumed at (epoch, step) builds the very same loader as the run it continues.
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Sampler

from nowrongturns.tasks.seeding import derive_seed, generator


class EpochSampler(Sampler):
    """Yields (index, sample_seed) for positions start..n-1 of the epoch's order. With a shard (rank, ranks)
    and the global batch size, only this rank's fixed part of each global batch (full batches only): the
    ranks together draw what one process would, each sample with the same seed."""

    def __init__(self, n: int, seed: int, epoch: int, shuffle: bool = True, start: int = 0,
                 shard: tuple[int, int] = (0, 1), batch: int = 1):
        self.n, self.seed, self.epoch, self.shuffle, self.start = n, seed, epoch, shuffle, start
        self.rank, self.ranks, self.batch = *shard, batch

    def _positions(self) -> range | list[int]:
        if self.ranks == 1:
            return range(self.start, self.n)
        part = self.batch // self.ranks
        first = self.rank * part
        return [b + first + k for b in range(self.start, self.n - self.batch + 1, self.batch) for k in range(part)]

    def __iter__(self):
        if self.shuffle:
            order = torch.randperm(self.n, generator=generator("order", self.seed, self.epoch)).tolist()
        else:
            order = range(self.n)
        for pos in self._positions():
            yield order[pos], derive_seed("aug", self.seed, self.epoch, pos)

    def __len__(self) -> int:
        return len(self._positions())


def with_seed(sample_seed: int, fn, *args):
    """fn(*args) with torch's global CPU RNG (what torchvision's random transforms draw from) seeded by
    sample_seed; the caller's RNG state is restored afterwards. CUDA generators are left alone."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(sample_seed)
        return fn(*args)


def make_loader(dataset, batch_size: int, seed: int, epoch: int, num_workers: int = 0,
                shuffle: bool = True, start_step: int = 0, pin_memory: bool = False,
                shard: tuple[int, int] = (0, 1)) -> DataLoader:
    """The epoch's loader, from step start_step on. Training (shuffle) drops the last partial batch, so every
    step sees batch_size samples; evaluation keeps it. pin_memory: batches in page-locked memory, for
    non-blocking copies to a GPU. shard (rank, ranks): this rank's batch_size / ranks samples of each batch."""
    if shard[1] > 1 and not shuffle:
        raise ValueError("a sharded loader is for training (shuffle): evaluation reads every sample on one rank")
    sampler = EpochSampler(len(dataset), seed, epoch, shuffle, start=start_step * batch_size, shard=shard,
                           batch=batch_size)
    return DataLoader(dataset, batch_size=batch_size // shard[1], sampler=sampler, num_workers=num_workers,
                      drop_last=shuffle, persistent_workers=False, generator=generator("loader", seed, epoch),
                      pin_memory=pin_memory)

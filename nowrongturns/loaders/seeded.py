"""Per-sample randomness for file-backed data sets, as a pure function of (seed, epoch, position in the epoch).

The sampler hands out (index, sample_seed) keys, so the augmentation a sample gets cannot depend on which
worker decodes it, on how many workers there are, or on what ran before in that worker. The DataLoader gets
its own generator so it never draws from, or advances, the process's global RNG; and no persistent workers,
so a run resumed at (epoch, step) builds the very same loader as the run it continues.
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Sampler

from ..seeding import derive_seed, generator


class EpochSampler(Sampler):
    """Yields (index, sample_seed) for positions start..n-1 of the epoch's order."""

    def __init__(self, n: int, seed: int, epoch: int, shuffle: bool = True, start: int = 0):
        self.n, self.seed, self.epoch, self.shuffle, self.start = n, seed, epoch, shuffle, start

    def __iter__(self):
        if self.shuffle:
            order = torch.randperm(self.n, generator=generator("order", self.seed, self.epoch)).tolist()
        else:
            order = range(self.n)
        for pos in range(self.start, self.n):
            yield order[pos], derive_seed("aug", self.seed, self.epoch, pos)

    def __len__(self) -> int:
        return max(0, self.n - self.start)


def with_seed(sample_seed: int, fn, *args):
    """fn(*args) with torch's global CPU RNG (what torchvision's random transforms draw from) seeded by
    sample_seed; the caller's RNG state is restored afterwards. CUDA generators are left alone."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(sample_seed)
        return fn(*args)


def make_loader(dataset, batch_size: int, seed: int, epoch: int, num_workers: int = 0,
                shuffle: bool = True, start_step: int = 0, pin_memory: bool = False) -> DataLoader:
    """The epoch's loader, from step start_step on. Training (shuffle) drops the last partial batch, so every
    step sees batch_size samples; evaluation keeps it. pin_memory: batches in page-locked memory, for
    non-blocking copies to a GPU."""
    sampler = EpochSampler(len(dataset), seed, epoch, shuffle, start=start_step * batch_size)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      drop_last=shuffle, persistent_workers=False, generator=generator("loader", seed, epoch),
                      pin_memory=pin_memory)

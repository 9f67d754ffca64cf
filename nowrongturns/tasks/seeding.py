"""Every random choice is a pure function of (stream, seed, epoch, step), never of process state.

That is what makes the replay exact and resumable from any checkpoint: no RNG
state has to be carried from one step to the next.
"""
from __future__ import annotations

import hashlib

import torch


def derive_seed(*keys) -> int:
    """A 63-bit seed from any tuple of ints and strings, stable across processes and machines."""
    digest = hashlib.blake2b(repr(keys).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def generator(*keys, device: str | torch.device = "cpu") -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(*keys))
    return gen

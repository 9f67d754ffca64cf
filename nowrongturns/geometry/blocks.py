"""Per-block geometry: the per-step sums of each parameter block, from the same pass as the whole.

A block is a module's own trainable parameters (a convolution's weight, a BatchNorm's weight and bias),
consecutive in the flat vector w, which lays the parameters out in model.parameters() order. On a GPU
the Triton backend cuts its chunks at the blocks' bounds and adds each block's chunks into a row of its
own: the same two launches a step (triton_sums.BlockedTritonSums). On CPU (Numba, where a call costs
about a microsecond) and in the torch fallback, the backend runs on each block's slice of G, w, w_{t-1}
and every w*, views of the same buffers (BlockedSums). Either way every element is read once a step,
and each block's G_b·d_b, ‖G_b‖², ‖d_b‖² (and update sums) come out of that pass. The whole is the sum of the blocks in
their fixed order, so per-block sums add up to it to float64 rounding, and one machine always gives
the same bits; its last bits may differ from those of the same run measured without blocks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Block:
    name: str  # the module's name in the model ("" for parameters of the model itself: "(model)")
    start: int
    end: int


def parameter_blocks(model: nn.Module) -> list[Block]:
    """The model's trainable parameters grouped by owning module, in the flat order (FlatParams)."""
    blocks: list[Block] = []
    offset, owners = 0, []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        owner = name.rpartition(".")[0] or "(model)"
        if owners and owners[-1] == owner:
            blocks[-1] = Block(blocks[-1].name, blocks[-1].start, offset + p.numel())
        else:  # a module met again after another one's parameters: a block of its own, numbered
            seen = owners.count(owner)
            blocks.append(Block(owner if not seen else f"{owner}[{seen + 1}]", offset, offset + p.numel()))
            owners.append(owner)
        offset += p.numel()
    return blocks


@dataclass
class _Slice:
    """What a backend reads of FlatParams: .data and .grad, here views of one block of them."""

    data: torch.Tensor
    grad: torch.Tensor


class BlockedSums:
    """A backend per block over views of the flat buffers; arrays() gives the whole (the blocks' sums in their
    order) and block_arrays() each block's."""

    def __init__(self, make_backend, flat, w_stars, blocks: list[Block]):
        self.blocks = blocks
        self.parts = [make_backend(_Slice(flat.data[b.start:b.end], flat.grad[b.start:b.end]),
                                   [w.reshape(-1)[b.start:b.end] for w in w_stars]) for b in blocks]

    def before(self, row: int, lam: float) -> None:
        for part in self.parts:
            part.before(row, lam)

    def after(self, row: int) -> None:
        for part in self.parts:
            part.after(row)

    def block_arrays(self) -> list[dict]:
        return [part.arrays() for part in self.parts]

    def arrays(self) -> dict:
        return sum_blocks(self.block_arrays())


def sum_blocks(per_block: list[dict]) -> dict:
    """The whole from its blocks' sums, added in block order (a fixed order of the additions)."""
    total = {key: np.array(value, dtype=np.float64, copy=True) for key, value in per_block[0].items()}
    for arrays in per_block[1:]:
        for key, value in arrays.items():
            total[key] += value
    return total

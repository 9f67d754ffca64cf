"""Re-seat a model's trainable parameters, and their gradients, as views into two flat buffers.

Then w and G are single vectors at no per-step cost: the geometry needs no
concatenation, and the trajectory is bitwise unchanged (the optimizer is built
after the re-seating and sees ordinary parameters).
"""
from __future__ import annotations

import torch
from torch import nn


class FlatParams:
    def __init__(self, model: nn.Module):
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError("model has no trainable parameters")
        dtypes = {p.dtype for p in self.params}
        if len(dtypes) != 1:
            raise ValueError(f"parameters have mixed dtypes {dtypes}")
        with torch.no_grad():
            self.data = torch.cat([p.detach().reshape(-1) for p in self.params])
        self.grad = torch.zeros_like(self.data)
        offset = 0
        for p in self.params:
            n = p.numel()
            p.data = self.data[offset:offset + n].view_as(p)
            p.grad = self.grad[offset:offset + n].view_as(p)
            offset += n

    @property
    def numel(self) -> int:
        return self.data.numel()

    def zero_grad(self) -> None:
        # Never set grads to None: that would detach them from the flat buffer.
        self.grad.zero_()

    def shard(self, part: slice) -> Shard:
        return Shard(self, part)

    def check_seated(self) -> None:
        """Fail loudly if anything replaced a parameter's or gradient's storage."""
        for p in self.params:
            if p.grad is None or p.grad.untyped_storage().data_ptr() != self.grad.untyped_storage().data_ptr():
                raise RuntimeError("a gradient left the flat buffer (was zero_grad(set_to_none=True) called?)")
            if p.untyped_storage().data_ptr() != self.data.untyped_storage().data_ptr():
                raise RuntimeError("a parameter left the flat buffer")


class Shard:
    """One rank's contiguous slice of w and G: views into the flat buffers, no copy. The geometry's sums
    over it are that rank's share of the sums over the whole vectors."""

    def __init__(self, flat: FlatParams, part: slice):
        self.data, self.grad = flat.data[part], flat.grad[part]

"""The per-step sums on a GPU at the memory-traffic floor: one Triton pass per step.

Each program of `step_kernel` loads a block of G, w, w_{t-1} and of every target w*_j once,
widens them to float64 in registers, forms d_j = w − w*_j and G + λw there (exact: the
difference of two float32 values is a float64 value), and writes one float64 partial sum per
quantity and block. `finish_kernel` then adds each quantity's partials in a fixed order into
the per-step device buffers. Block sums in a fixed tree, then a fixed-order final sum, no
atomics: two runs give the same bits. Nothing is read back inside a step; the buffers are read
once per segment.

Traffic per element and step: G, w, w_{t-1} and the k targets read once, w_t written once (the
copy the next step's update sums need, see one_pass.py). Memory held: the targets and that copy
in the training precision, and per step and block a few float64 partials; no float64 copy of a
parameter-sized vector.

Under TRITON_INTERPRET=1 the same kernels run on CPU tensors (tests/test_triton_sums.py).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from nowrongturns.geometry import one_pass
from nowrongturns.geometry.one_pass import N_PER, N_SHARED, FoldedSums

# one_pass.py's column layout, as compile-time constants of the kernels.
_G_SQ, _WD_G_SQ, _U_SQ = tl.constexpr(one_pass.G_SQ), tl.constexpr(one_pass.WD_G_SQ), tl.constexpr(one_pass.U_SQ)
_G_DOT_D, _D_SQ = tl.constexpr(one_pass.G_DOT_D), tl.constexpr(one_pass.D_SQ)
_WD_G_DOT_D, _U_DOT_D = tl.constexpr(one_pass.WD_G_DOT_D), tl.constexpr(one_pass.U_DOT_D)
_N_SHARED, _N_PER = tl.constexpr(N_SHARED), tl.constexpr(N_PER)

# Elements a program reduces (fixed: the block size decides the order of the additions, hence the
# last bits of a sum), and the warps that share them. 4 elements a thread: ptxas (sm_90) gives the
# kernel 64 registers with one target, 80 with three, no spills, so half the warps an SM can hold
# are resident to keep loads in flight; 8 elements a thread take 144-178 registers (1/8 of them).
BLOCK = 1024
NUM_WARPS = 8
# Partials a program of the final sum loads at once (32 a thread, 96 registers): a few iterations
# even for 50M weights, so the final sum stays a few microseconds.
FINISH_BLOCK = 8192
FINISH_WARPS = 8


@triton.jit
def _load(ptrs, mask, MASKED: tl.constexpr):
    # Unmasked loads of a full block compile to 16-byte vector loads; a mask against an n that is no
    # multiple of 4 would make them scalar.
    if MASKED:
        x = tl.load(ptrs, mask=mask, other=0.0)
    else:
        x = tl.load(ptrs)
    return x


@triton.jit
def _block_sums(g_ptr, w_ptr, prev_ptr, stars_ptr, stride, partials_ptr, n, n_blocks, lam, pid,
                K: tl.constexpr, OWN: tl.constexpr, WD: tl.constexpr, UPDATE: tl.constexpr,
                COPY: tl.constexpr, BLOCK: tl.constexpr, MASKED: tl.constexpr):
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    _sums(g_ptr, w_ptr, prev_ptr, stars_ptr, stride, partials_ptr, offs, offs < n, n_blocks, lam, pid,
          K, OWN, WD, UPDATE, COPY, MASKED)


@triton.jit
def _sums(g_ptr, w_ptr, prev_ptr, stars_ptr, stride, partials_ptr, offs, mask, n_blocks, lam, pid,
          K: tl.constexpr, OWN: tl.constexpr, WD: tl.constexpr, UPDATE: tl.constexpr, COPY: tl.constexpr,
          MASKED: tl.constexpr):
    """The partial sums of the elements offs (mask: those that exist) into column pid of the partials, whose
    rows are n_blocks long."""
    w_raw = _load(w_ptr + offs, mask, MASKED)
    w = w_raw.to(tl.float64)
    out = partials_ptr + pid
    if OWN:
        g = _load(g_ptr + offs, mask, MASKED).to(tl.float64)
        tl.store(out + _G_SQ * n_blocks, tl.sum(g * g, axis=0))
        if WD:
            t = g + lam * w
            tl.store(out + _WD_G_SQ * n_blocks, tl.sum(t * t, axis=0))
    if UPDATE:
        p = _load(prev_ptr + offs, mask, MASKED).to(tl.float64)
        u = w - p
        tl.store(out + _U_SQ * n_blocks, tl.sum(u * u, axis=0))
    star_ptrs = stars_ptr + offs  # 64-bit pointers: no int32 overflow across targets
    for j in tl.static_range(K):
        s = _load(star_ptrs, mask, MASKED).to(tl.float64)
        star_ptrs += stride
        col = out + (_N_SHARED + _N_PER * j) * n_blocks
        if OWN:
            d = w - s
            tl.store(col + _G_DOT_D * n_blocks, tl.sum(g * d, axis=0))
            tl.store(col + _D_SQ * n_blocks, tl.sum(d * d, axis=0))
            if WD:
                tl.store(col + _WD_G_DOT_D * n_blocks, tl.sum(t * d, axis=0))
        if UPDATE:
            tl.store(col + _U_DOT_D * n_blocks, tl.sum(u * (p - s), axis=0))
    if COPY:
        if MASKED:
            tl.store(prev_ptr + offs, w_raw, mask=mask)
        else:
            tl.store(prev_ptr + offs, w_raw)


@triton.jit
def step_kernel(g_ptr, w_ptr, prev_ptr, stars_ptr, stride, partials_ptr, n, n_blocks, lam: tl.float64,
                K: tl.constexpr, OWN: tl.constexpr, WD: tl.constexpr, UPDATE: tl.constexpr,
                COPY: tl.constexpr, BLOCK: tl.constexpr):
    """Per block: OWN: ‖G‖², G·d_j, ‖d_j‖² (WD: also ‖G + λw‖², (G + λw)·d_j); UPDATE: with
    u = w − w_prev, ‖u‖² and u·(w_prev − w*_j); COPY: w_prev ← w. Target j starts j·stride elements
    after stars_ptr. Partials go to column c of partials [N_SHARED + N_PER·K, n_blocks], c in the
    layout of one_pass.py. Only the last block, which may be partial, is masked."""
    pid = tl.program_id(0)
    if pid < n_blocks - 1:
        _block_sums(g_ptr, w_ptr, prev_ptr, stars_ptr, stride, partials_ptr, n, n_blocks, lam, pid,
                    K, OWN, WD, UPDATE, COPY, BLOCK, False)
    else:
        _block_sums(g_ptr, w_ptr, prev_ptr, stars_ptr, stride, partials_ptr, n, n_blocks, lam, pid,
                    K, OWN, WD, UPDATE, COPY, BLOCK, True)


@triton.jit(do_not_specialize=["row", "u_row"])
def finish_kernel(partials_ptr, shared_ptr, per_ptr, n_blocks, row, u_row,
                  K: tl.constexpr, OWN: tl.constexpr, WD: tl.constexpr, UPDATE: tl.constexpr,
                  FINISH_BLOCK: tl.constexpr):
    """Program c adds column c of the partials in block order and stores it at its place: own
    sums at `row`, update sums at `u_row`, of shared [rows, N_SHARED] and per [rows, K, N_PER].
    Columns the step_kernel did not write are not stored."""
    c = tl.program_id(0)
    acc = tl.zeros([FINISH_BLOCK], dtype=tl.float64)
    for start in range(0, n_blocks, FINISH_BLOCK):
        idx = start + tl.arange(0, FINISH_BLOCK)
        acc += tl.load(partials_ptr + c * n_blocks + idx, mask=idx < n_blocks, other=0.0)
    total = tl.sum(acc, axis=0)
    per_target = c >= _N_SHARED
    q = (c - _N_SHARED) % _N_PER  # the column within a target
    j = (c - _N_SHARED) // _N_PER
    is_update = (c == _U_SQ) | (per_target & (q == _U_DOT_D))
    wanted = ((c == _G_SQ) | ((c == _WD_G_SQ) & WD) | (per_target & ((q == _G_DOT_D) | (q == _D_SQ)))
              | (per_target & (q == _WD_G_DOT_D) & WD))
    present = (is_update & UPDATE) | ((~is_update) & wanted & OWN)
    r = tl.where(is_update, u_row, row).to(tl.int64)
    dst = tl.where(per_target, per_ptr + (r * K + j) * _N_PER + q, shared_ptr + r * _N_SHARED + c)
    tl.store(dst, total, mask=present)


@triton.jit
def blocks_step_kernel(g_ptr, w_ptr, prev_ptr, stars_ptr, stride, partials_ptr, lo_ptr, hi_ptr, n_chunks,
                       lam: tl.float64, K: tl.constexpr, OWN: tl.constexpr, WD: tl.constexpr, UPDATE: tl.constexpr,
                       COPY: tl.constexpr, BLOCK: tl.constexpr):
    """step_kernel over chunks that never straddle two parameter blocks: program pid reduces the elements
    [lo[pid], hi[pid]) (at most BLOCK of them, within one block) into partial column pid."""
    pid = tl.program_id(0)
    lo = tl.load(lo_ptr + pid)
    hi = tl.load(hi_ptr + pid)
    offs = lo + tl.arange(0, BLOCK)
    _sums(g_ptr, w_ptr, prev_ptr, stars_ptr, stride, partials_ptr, offs, offs < hi, n_chunks, lam, pid,
          K, OWN, WD, UPDATE, COPY, True)


@triton.jit(do_not_specialize=["row", "u_row"])
def blocks_finish_kernel(partials_ptr, shared_ptr, per_ptr, first_ptr, n_chunks, n_parts, row, u_row,
                         K: tl.constexpr, OWN: tl.constexpr, WD: tl.constexpr, UPDATE: tl.constexpr,
                         FINISH_BLOCK: tl.constexpr):
    """finish_kernel per parameter block b = program_id(1): adds column c of the partials over the block's chunks
    [first[b], first[b + 1]) in chunk order, into shared [rows, P, N_SHARED] and per [rows, P, K, N_PER]."""
    c = tl.program_id(0)
    b = tl.program_id(1)
    f0 = tl.load(first_ptr + b)
    f1 = tl.load(first_ptr + b + 1)
    acc = tl.zeros([FINISH_BLOCK], dtype=tl.float64)
    for start in range(f0, f1, FINISH_BLOCK):
        idx = start + tl.arange(0, FINISH_BLOCK)
        acc += tl.load(partials_ptr + c * n_chunks + idx, mask=idx < f1, other=0.0)
    total = tl.sum(acc, axis=0)
    per_target = c >= _N_SHARED
    q = (c - _N_SHARED) % _N_PER
    j = (c - _N_SHARED) // _N_PER
    is_update = (c == _U_SQ) | (per_target & (q == _U_DOT_D))
    wanted = ((c == _G_SQ) | ((c == _WD_G_SQ) & WD) | (per_target & ((q == _G_DOT_D) | (q == _D_SQ)))
              | (per_target & (q == _WD_G_DOT_D) & WD))
    present = (is_update & UPDATE) | ((~is_update) & wanted & OWN)
    rb = tl.where(is_update, u_row, row).to(tl.int64) * n_parts + b
    dst = tl.where(per_target, per_ptr + (rb * K + j) * _N_PER + q, shared_ptr + rb * _N_SHARED + c)
    tl.store(dst, total, mask=present)


class TritonSums(FoldedSums):
    """The recorder's GPU backend (see the module's docstring)."""

    def __init__(self, flat, w_stars, n_steps: int, with_wd: bool, block: int = BLOCK, num_warps: int = NUM_WARPS):
        self.g = flat.grad.detach().reshape(-1)  # views: the buffers are never replaced
        self.w = flat.data.detach().reshape(-1)
        dev = self.w.device
        self.n = self.w.numel()
        self.k = len(w_stars)
        # One row per target, each starting on a 64-byte boundary, so every target's loads can be vectors.
        self.stride = -(-self.n // 16) * 16
        self.stars = torch.zeros(self.k, self.stride, dtype=w_stars[0].dtype, device=dev)
        for row, w in zip(self.stars, w_stars, strict=True):
            row[: self.n].copy_(w.detach().reshape(-1))
        self.w_prev = torch.empty_like(self.w)
        self.with_wd = with_wd
        self.n_steps = n_steps
        self.block, self.num_warps = block, num_warps  # other values: bench/gpu.py's sweep
        self.n_blocks = triton.cdiv(self.n, block)
        # Zeros: columns a pass does not write stay finite (the final sum reads them, and stores nothing).
        self.partials = torch.zeros(N_SHARED + N_PER * self.k, self.n_blocks, dtype=torch.float64, device=dev)
        self.shared = torch.full((n_steps, N_SHARED), float("nan"), dtype=torch.float64, device=dev)
        self.per = torch.full((n_steps, self.k, N_PER), float("nan"), dtype=torch.float64, device=dev)

    def _launch(self, row: int, u_row: int, lam: float, own: bool, update: bool, copy: bool) -> None:
        flags = {"K": self.k, "OWN": own, "WD": own and self.with_wd, "UPDATE": update}
        step_kernel[(self.n_blocks,)](self.g, self.w, self.w_prev, self.stars, self.stride, self.partials, self.n,
                                      self.n_blocks, float(lam), COPY=copy, BLOCK=self.block,
                                      num_warps=self.num_warps, **flags)
        finish_kernel[(self.partials.shape[0],)](self.partials, self.shared, self.per, self.n_blocks, row, u_row,
                                                 FINISH_BLOCK=FINISH_BLOCK, num_warps=FINISH_WARPS, **flags)

    def step_pass(self, row: int, lam: float, with_prev: bool) -> None:
        self._launch(row, row - 1, lam, own=True, update=with_prev, copy=True)

    def update_pass(self, row: int) -> None:
        self._launch(row, row, 0.0, own=False, update=True, copy=False)

    def host_arrays(self):
        return self.shared.cpu().numpy(), self.per.cpu().numpy()


def unavailable_reason(device: torch.device) -> str | None:
    """Why these kernels cannot run on `device`, or None where they can: a CUDA (or ROCm) GPU that
    Triton drives, or any device under Triton's interpreter (TRITON_INTERPRET=1, tests on CPU).
    Triton builds a small launcher with the machine's C compiler once (cached under ~/.triton):
    without one, or without Python's headers, it cannot run."""
    if triton.knobs.runtime.interpret:
        return None
    if device.type != "cuda":
        return f"Triton drives CUDA and ROCm GPUs, not {device.type}"
    try:
        triton.runtime.driver.active.get_current_target()  # builds the launcher on first use
    except Exception as e:  # noqa: BLE001 (any failure here means: not on this machine)
        return f"{type(e).__name__}: {e}"
    return None


class BlockedTritonSums(TritonSums):
    """TritonSums with per-block sums from the same two launches a step: the chunks of the step kernel are cut
    at the parameter blocks' bounds (bounds: [(start, end)], consecutive, covering w), so that no chunk holds
    two blocks, and the final sum adds each block's chunks into a row of its own. The whole is the blocks'
    sums added in their order on the host, once a segment (blocks.sum_blocks)."""

    def __init__(self, flat, w_stars, n_steps: int, with_wd: bool, bounds, block: int = BLOCK,
                 num_warps: int = NUM_WARPS):
        super().__init__(flat, w_stars, n_steps, with_wd, block, num_warps)
        dev = self.w.device
        lo, hi, first = [], [], [0]
        for start, end in bounds:
            for a in range(start, end, block):
                lo.append(a)
                hi.append(min(a + block, end))
            first.append(len(lo))
        self.n_parts, self.n_chunks = len(bounds), len(lo)
        self.lo, self.hi = (torch.tensor(v, dtype=torch.int64, device=dev) for v in (lo, hi))
        self.first = torch.tensor(first, dtype=torch.int64, device=dev)
        self.partials = torch.zeros(N_SHARED + N_PER * self.k, self.n_chunks, dtype=torch.float64, device=dev)
        self.shared = torch.full((n_steps, self.n_parts, N_SHARED), float("nan"), dtype=torch.float64, device=dev)
        self.per = torch.full((n_steps, self.n_parts, self.k, N_PER), float("nan"), dtype=torch.float64, device=dev)

    def _launch(self, row: int, u_row: int, lam: float, own: bool, update: bool, copy: bool) -> None:
        flags = {"K": self.k, "OWN": own, "WD": own and self.with_wd, "UPDATE": update}
        blocks_step_kernel[(self.n_chunks,)](self.g, self.w, self.w_prev, self.stars, self.stride, self.partials,
                                             self.lo, self.hi, self.n_chunks, float(lam), COPY=copy,
                                             BLOCK=self.block, num_warps=self.num_warps, **flags)
        blocks_finish_kernel[(self.partials.shape[0], self.n_parts)](
            self.partials, self.shared, self.per, self.first, self.n_chunks, self.n_parts, row, u_row,
            FINISH_BLOCK=FINISH_BLOCK, num_warps=FINISH_WARPS, **flags)

    def block_arrays(self) -> list[dict]:
        self.flush()
        shared, per = self.host_arrays()
        return [one_pass.columns(shared[:, b], per[:, b]) for b in range(self.n_parts)]

    def arrays(self) -> dict:
        from nowrongturns.geometry.blocks import sum_blocks

        return sum_blocks(self.block_arrays())

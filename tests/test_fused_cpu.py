"""The CPU kernel of the per-step sums (nowrongturns/geometry/fused_cpu.py): what must hold on every CPU, and
what this CPU does, reported rather than asserted.

The kernel's last bits follow the CPU's vector width (fastmath reassoc), so no test here pins bits
produced on one CPU model: each compares two placements of the same arrays on the machine at hand.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from nowrongturns.geometry.fused_cpu import W_PREV_PAD, compile_kernel, padded_zeros, step_kernel
from nowrongturns.geometry.one_pass import N_PER, N_SHARED
from nowrongturns.geometry.recorder import GeometryRecorder
from nowrongturns.logs import cpu
from nowrongturns.train.flat import FlatParams

from .conftest import ROOT

# Sizes below, around and above a CPU's vector block (8 elements on AMD Zen 3, up to 128 where a CPU
# unrolls wide vectors), so that the scalar loop, the vector loop and both with a remainder all run.
SIZES = (3, 20, 61, 300)
# The kernel that writes w_prev while reading G, w and w* (first target, no weight decay), and the
# one most steps run: every sum, w_prev read for the previous update and then rewritten.
KERNELS = {"plain": (False, False, True, True), "every sum": (True, True, True, True)}
INPUTS = ("g", "w", "w_star")


def _inputs(n: int) -> dict:
    rng = np.random.default_rng(8 + n)
    return {name: rng.normal(size=n).astype(np.float32) for name in (*INPUTS, "w_prev")}


def _sums(flags, arrays: dict, w_prev: np.ndarray) -> bytes:
    """Every sum of one step (row 1, so that the previous step's update sums come too), as raw bytes:
    equal bits, NaN included. w_prev is the array to write, filled here with the given previous weights."""
    w_prev[:] = arrays["w_prev"]
    shared, per = np.full((2, N_SHARED), np.nan), np.full((2, 1, N_PER), np.nan)
    step_kernel(*flags)(arrays["g"], arrays["w"], w_prev, arrays["w_star"], 1e-2, 1, 0, shared, per)
    assert np.array_equal(w_prev, arrays["w"])  # w_prev ← w
    return shared.tobytes() + per.tobytes()


def _placed(arrays: dict, name: str, gap: int, pad: int, w_prev_first: bool):
    """`arrays` with input `name` copied into one buffer beside w_prev: `gap` elements apart, and `pad`
    elements of w_prev's own padding on both sides of it. Returns (inputs, w_prev)."""
    n = arrays[name].size
    buf = np.zeros(2 * n + gap + 2 * pad, dtype=np.float32)
    if w_prev_first:  # [pad][w_prev][pad][gap][input]
        w_prev, near = buf[pad:pad + n], buf[n + 2 * pad + gap:][:n]
    else:  # [input][gap][pad][w_prev][pad]
        near, w_prev = buf[:n], buf[n + gap + pad:][:n]
    near[:] = arrays[name]
    return {**arrays, name: near}, w_prev


def _placements(n: int):
    """Every input, on either side of w_prev, from touching it to 2n elements away."""
    for name in INPUTS:
        for w_prev_first in (False, True):
            for gap in range(2 * n + 1):
                yield name, gap, w_prev_first


def _hazards(kernel: str, sizes, pad: int) -> list:
    """The placements of an input beside w_prev, with `pad` elements of padding, whose sums differ in
    their bits from those of arrays far apart: (n, input, gap, w_prev first)."""
    flags, found = KERNELS[kernel], []
    for n in sizes:
        arrays = _inputs(n)
        distant = _sums(flags, arrays, padded_zeros(n, np.float32))
        for name, gap, w_prev_first in _placements(n):
            placed, w_prev = _placed(arrays, name, gap, pad, w_prev_first)
            if _sums(flags, placed, w_prev) != distant:
                found.append((n, name, gap, w_prev_first))
    return found


def test_kernels_compile_without_a_writable_cache():
    # Code with no file behind it has nowhere to cache, like a read-only install with a read-only home:
    # it is compiled in the process instead of failing.
    namespace = {}
    exec("def double(x):\n    return 2.0 * x\n", namespace)  # noqa: S102  a function with no file
    assert compile_kernel(namespace["double"])(1.5) == 3.0


@pytest.mark.parametrize("kernel", KERNELS)
def test_cpu_sums_do_not_depend_on_where_the_arrays_lie(kernel):
    # Holds on every CPU. The kernel writes w_prev while it reads G, w and w*; LLVM's vectorized loop
    # checks at run time that no input starts too close to w_prev and otherwise takes its scalar loop,
    # which adds in another order. w_prev's own padding keeps every input far enough away: wherever
    # an input lies beside the padded w_prev, the sums have the bits of arrays far apart.
    assert not _hazards(kernel, SIZES, W_PREV_PAD)


def test_the_backend_pads_w_prev():
    n = 20
    w = np.arange(n, dtype=np.float32)
    model = torch.nn.Module()
    model.w = torch.nn.Parameter(torch.from_numpy(w))
    backend = GeometryRecorder(FlatParams(model), torch.zeros(n), 1, backend="fused_cpu").backend
    assert backend.w_prev.size == n
    assert backend.w_prev.base is not None and backend.w_prev.base.size == n + 2 * W_PREV_PAD
    assert backend.w_prev.ctypes.data - backend.w_prev.base.ctypes.data == W_PREV_PAD * w.itemsize


# LLVM options that compile the loop with the widest vector block a CPU could choose (8 doubles a
# vector, 16 vectors a loop iteration: 128 elements) and vectorize its remainder by 8, so that inputs
# too small for the main loop still pass through the overlap check. The hazard then shows on any CPU.
WIDEST_BLOCK = ["-force-vector-width=8", "-force-vector-interleave=16", "-epilogue-vectorization-force-VF=8"]
WIDEST_PROBE = """
import json, sys
from llvmlite import binding
for option in sys.argv[1:]:
    binding.set_option("", option)  # before Numba compiles anything
from tests.test_fused_cpu import KERNELS, W_PREV_PAD, _hazards
print(json.dumps({kernel: [len(_hazards(kernel, (8, 20, 61), pad)) for pad in (0, W_PREV_PAD)] for kernel in KERNELS}))
"""


def test_the_padding_covers_the_widest_vector_block(tmp_path):
    # The kernel compiled, in a process of its own, as a CPU with the widest vector block would compile
    # it: arrays of up to 61 weights placed unpadded beside w_prev then sum in another order (the hazard,
    # made to show on every CPU), and with w_prev's padding they never do. A cache folder of its own, so
    # that this kernel is never loaded in place of the real one (Numba's cache key ignores LLVM options).
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", WIDEST_PROBE, *WIDEST_BLOCK], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\nwidest vector block: placements summed in another order, unpadded and padded: {counts}")
    # The plain kernel's check compares the distance between w_prev and each input with the block; the
    # other kernel's compares whole address ranges, which separate arrays always pass.
    assert counts["plain"][0] > 0, "the forced compile no longer shows the hazard: the test would check nothing"
    assert [kernel for kernel, (_, padded) in counts.items() if padded] == []


def test_whether_this_cpu_shows_the_hazard():
    # Whether the hazard shows with the kernel as compiled here is a property of the CPU, not of the
    # code: it needs a vector block wider than the smallest input the vector loop takes. Seen on the CPU
    # where the padding was added (two processes of the 20-weight ALM run differed in one step); not on
    # AMD Zen 3 (AVX2), whose block of 8 elements is also the loop's smallest input, so that separate
    # arrays never fail the check. Reported here, not asserted; where it shows, the padding must remove it.
    shown = _hazards("plain", range(2, 41), 0)
    if not shown:
        pytest.skip(f"the hazard does not show on this CPU ({cpu()}): no unpadded placement of w_prev beside an "
                    "input of 2-40 weights changed the summation order; the padding is checked on every CPU by "
                    "test_cpu_sums_do_not_depend_on_where_the_arrays_lie and, against the widest vector "
                    "block, by test_the_padding_covers_the_widest_vector_block")
    print(f"\n{cpu()}: {len(shown)} unpadded placements summed in another order, e.g. {shown[:3]}")
    assert not _hazards("plain", sorted({n for n, *_ in shown}), W_PREV_PAD)

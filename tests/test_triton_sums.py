"""The Triton backend's sums against exactly rounded float64 sums. Where no GPU is visible the kernels
run under Triton's interpreter on CPU tensors (conftest.py); on a GPU machine they run compiled."""
import itertools
import math

import numpy as np
import pytest
import torch

from nowrongturns.geometry.recorder import GeometryRecorder
from nowrongturns.geometry.triton_sums import BLOCK, TritonSums

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


class _Flat:
    """Stands in for FlatParams: the two flat buffers the recorder reads."""

    def __init__(self, w, g):
        self.data = torch.as_tensor(w).to(DEVICE)
        self.grad = torch.as_tensor(g).to(DEVICE)


def _exact(a, b):
    """Σ a_i·b_i with each product and difference formed in float64 and the sum correctly rounded,
    and Σ|a_i·b_i|, the scale of its rounding error."""
    p = np.asarray(a, dtype=np.float64) * np.asarray(b, dtype=np.float64)
    return math.fsum(p.tolist()), float(np.abs(p).sum())


def _check(value, exact_and_scale, what):
    # Any float64 summation order errs by at most (n·eps)·Σ|terms|; blocks make it far smaller.
    exact, scale = exact_and_scale
    assert abs(value - exact) <= 1e-13 * scale, f"{what}: {value!r} vs exact {exact!r} (scale {scale:.3g})"


def _steps(n, targets, lam, steps, seed, near=False):
    """Record `steps` steps of a fake descent on n float32 weights against `targets` w*; returns the
    recorder's sums, and the weights and gradients it saw (float64 copies)."""
    rng = np.random.default_rng(seed)
    stars = [rng.normal(size=n).astype(np.float32) for _ in range(targets)]
    w0 = stars[0].astype(np.float64) * (1 + 1e-7 * rng.normal(size=n)) if near else rng.normal(size=n)
    flat = _Flat(w0.astype(np.float32), np.zeros(n, dtype=np.float32))
    rec = GeometryRecorder(flat, [torch.from_numpy(s) for s in stars], steps, lam, backend="triton")
    ws, gs = [], []
    for k in range(steps):
        flat.grad.copy_(torch.from_numpy(rng.normal(size=n).astype(np.float32)))
        ws.append(flat.data.double().cpu().numpy())
        gs.append(flat.grad.double().cpu().numpy())
        rec.before_step(k)
        flat.data.sub_(1e-3 * flat.grad)  # the "optimizer step"
        rec.after_step(k)
    ws.append(flat.data.double().cpu().numpy())
    return rec, stars, ws, gs


@pytest.mark.parametrize("n, targets, lam", [
    (BLOCK * 3 + 17, 1, 0.0),  # last block partial
    (BLOCK - 5, 3, 0.1),       # a single, partial block; several targets; weight decay (λ not a float32)
    (2 * BLOCK, 2, 5e-4),      # whole blocks
])
def test_sums_match_exact_float64(n, targets, lam):
    steps = 3
    rec, stars, ws, gs = _steps(n, targets, lam, steps, seed=n)
    a = rec.backend.arrays()
    for k in range(steps):
        w, g, u = ws[k], gs[k], ws[k + 1] - ws[k]
        _check(a["g_sq"][k], _exact(g, g), f"g_sq step {k}")
        _check(a["u_sq"][k], _exact(u, u), f"u_sq step {k}")
        t = g + lam * w
        if lam:
            _check(a["wd_g_sq"][k], _exact(t, t), f"wd_g_sq step {k}")
        else:
            assert np.isnan(a["wd_g_sq"][k])
        for j, s in enumerate(stars):
            d = w - s.astype(np.float64)
            _check(a["g_dot_d"][k, j], _exact(g, d), f"g_dot_d step {k} target {j}")
            _check(a["d_sq"][k, j], _exact(d, d), f"d_sq step {k} target {j}")
            _check(a["u_dot_d"][k, j], _exact(u, d), f"u_dot_d step {k} target {j}")
            if lam:
                _check(a["wd_g_dot_d"][k, j], _exact(t, d), f"wd_g_dot_d step {k} target {j}")


def test_distance_near_w_star_keeps_float64_accuracy():
    # ‖d‖ ~ 1e-7 ‖w‖: d must be formed in float64 from the float32 values, never by expansion.
    n = BLOCK * 2 + 3
    rec, stars, ws, gs = _steps(n, 2, 1e-3, 2, seed=7, near=True)
    a = rec.backend.arrays()
    d = ws[0] - stars[0].astype(np.float64)
    assert 1e-8 < np.linalg.norm(d) / np.linalg.norm(stars[0]) < 1e-6
    exact, _ = _exact(d, d)
    assert a["d_sq"][0, 0] == pytest.approx(exact, rel=1e-13)
    _check(a["g_dot_d"][0, 0], _exact(gs[0], d), "g_dot_d near w*")
    u = ws[1] - ws[0]
    _check(a["u_dot_d"][0, 0], _exact(u, d), "u_dot_d near w*")


def test_two_runs_give_the_same_bits():
    runs = [_steps(BLOCK * 2 + 100, 2, 1e-2, 3, seed=3)[0].sums() for _ in range(2)]
    assert np.array_equal(runs[0], runs[1], equal_nan=True)


def test_only_the_rows_recorded_are_written():
    # A recorder of 5 rows that records rows 1 and 2 leaves rows 0, 3, 4 NaN, and row 2's update
    # sums come from the flush after it (no successor was recorded).
    n = 300
    rng = np.random.default_rng(1)
    flat = _Flat(rng.normal(size=n).astype(np.float32), rng.normal(size=n).astype(np.float32))
    rec = GeometryRecorder(flat, torch.zeros(n), 5, backend="triton")
    for k in (1, 2):
        rec.before_step(k)
        flat.data.sub_(0.1 * flat.grad)
        rec.after_step(k)
    out = rec.sums()
    cols = [rec.columns.index(c) for c in ("g_sq", "u_sq", "g_dot_d@0", "d_sq@0", "u_dot_d@0")]
    assert np.isnan(out[[0, 3, 4]][:, cols]).all()
    assert not np.isnan(out[[1, 2]][:, cols]).any()
    # Each step moved w by −0.1·G: ‖u‖² = 0.01‖G‖².
    np.testing.assert_allclose(out[[1, 2], cols[1]], 0.01 * out[[1, 2], cols[0]], rtol=1e-6)


def test_blocked_sums_cut_chunks_at_the_block_bounds_and_add_up_to_the_whole():
    """Blocks of uneven sizes (one much larger than a chunk, one of 3 elements, none aligned to a chunk): each
    block's G_b·d_b, ‖G_b‖², ‖d_b‖², ‖u_b‖², u_b·(w_prev − w*)_b, and (G + λw)_b terms against the exactly
    rounded sums, from the same two launches a step; the whole is their sum."""
    from nowrongturns.geometry.blocks import Block

    n = 3 * BLOCK + 200
    cuts = [0, 3, BLOCK + 7, BLOCK + 10, 3 * BLOCK + 1, n]
    blocks = [Block(f"b{i}", a, b) for i, (a, b) in enumerate(itertools.pairwise(cuts))]
    rng = np.random.default_rng(11)
    star = rng.normal(size=n).astype(np.float32)
    flat = _Flat(rng.normal(size=n).astype(np.float32), np.zeros(n, dtype=np.float32))
    rec = GeometryRecorder(flat, [torch.from_numpy(star)], 2, 0.1, backend="triton", blocks=blocks)
    assert type(rec.backend).__name__ == "BlockedTritonSums" and rec.backend.n_chunks == 7  # 1+2+1+2+1
    ws, gs = [], []
    for k in range(2):
        flat.grad.copy_(torch.from_numpy(rng.normal(size=n).astype(np.float32)))
        ws.append(flat.data.double().cpu().numpy())
        gs.append(flat.grad.double().cpu().numpy())
        rec.before_step(k)
        flat.data.sub_(1e-3 * flat.grad)
        rec.after_step(k)
    ws.append(flat.data.double().cpu().numpy())
    per_block = rec.backend.block_arrays()
    whole = rec.backend.arrays()
    s = star.astype(np.float64)
    for b, arrays in zip(blocks, per_block, strict=True):
        part = slice(b.start, b.end)
        for k in range(2):
            w, g, u = ws[k][part], gs[k][part], ws[k + 1][part] - ws[k][part]
            d, t = w - s[part], g + 0.1 * ws[k][part]
            _check(arrays["g_sq"][k], _exact(g, g), f"{b.name} g_sq")
            _check(arrays["g_dot_d"][k, 0], _exact(g, d), f"{b.name} g_dot_d")
            _check(arrays["d_sq"][k, 0], _exact(d, d), f"{b.name} d_sq")
            _check(arrays["wd_g_dot_d"][k, 0], _exact(t, d), f"{b.name} wd_g_dot_d")
            _check(arrays["u_sq"][k], _exact(u, u), f"{b.name} u_sq")
            _check(arrays["u_dot_d"][k, 0], _exact(u, d), f"{b.name} u_dot_d")
    for key in ("g_sq", "g_dot_d", "d_sq", "u_sq", "u_dot_d"):
        np.testing.assert_array_equal(whole[key], sum(a[key] for a in per_block))


@pytest.mark.parametrize("wd, update", [(True, True), (False, False)])
def test_final_sum_adds_each_column_over_several_iterations_and_stores_it_in_its_place(wd, update):
    # 11 blocks of partials summed 4 at a time: own sums land in row 3, update sums in row 2 (the step
    # before), columns not computed are not stored.
    from nowrongturns.geometry.triton_sums import finish_kernel

    k, n_blocks = 2, 11
    rng = np.random.default_rng(5)
    partials = torch.from_numpy(rng.normal(size=(3 + 4 * k, n_blocks))).to(DEVICE)
    shared = torch.full((5, 3), float("nan"), dtype=torch.float64, device=DEVICE)
    per = torch.full((5, k, 4), float("nan"), dtype=torch.float64, device=DEVICE)
    finish_kernel[(3 + 4 * k,)](partials, shared, per, n_blocks, 3, 2, K=k, OWN=True, WD=wd, UPDATE=update,
                                FINISH_BLOCK=4)
    col = [math.fsum(row) for row in partials.cpu().numpy().tolist()]
    shared, per = shared.cpu().numpy(), per.cpu().numpy()
    expected_shared = np.full((5, 3), np.nan)
    expected_per = np.full((5, k, 4), np.nan)
    expected_shared[3, 0] = col[0]
    if wd:
        expected_shared[3, 1] = col[1]
    if update:
        expected_shared[2, 2] = col[2]
    for j in range(k):
        expected_per[3, j, :2] = col[3 + 4 * j: 5 + 4 * j]
        if wd:
            expected_per[3, j, 2] = col[5 + 4 * j]
        if update:
            expected_per[2, j, 3] = col[6 + 4 * j]
    np.testing.assert_allclose(shared, expected_shared, rtol=1e-14)
    np.testing.assert_allclose(per, expected_per, rtol=1e-14)


def test_memory_held_is_the_targets_and_one_copy_of_w_in_training_precision():
    n, k = BLOCK * 4, 3
    flat = _Flat(np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32))
    backend = TritonSums(flat, [torch.zeros(n)] * k, 10, with_wd=True)
    held = [v for v in vars(backend).values() if isinstance(v, torch.Tensor)]
    large = [t for t in held if t.numel() >= n and t.data_ptr() not in (flat.data.data_ptr(), flat.grad.data_ptr())]
    assert sorted(t.numel() for t in large) == [n, k * n]  # w_prev, and the stacked targets
    assert all(t.dtype == torch.float32 for t in large)
    small = [t for t in held if t.numel() < n]
    assert all(t.numel() <= 10 * k * 4 + (3 + 4 * k) * (n // BLOCK) for t in small)


def test_without_triton_the_gpu_falls_back_to_the_gram_backend_and_says_why(monkeypatch, caplog):
    # Outside the interpreter, Triton runs only on a GPU: elsewhere auto measures with the Gram-matrix
    # backend (a warning names the reason), and asking for triton by name is an error with that reason.
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    flat = _Flat(np.zeros(10, dtype=np.float32), np.zeros(10, dtype=np.float32))
    flat.data, flat.grad = flat.data.to("meta"), flat.grad.to("meta")
    with caplog.at_level("WARNING", logger="nowrongturns"):
        rec = GeometryRecorder(flat, torch.zeros(10), 3)
    assert type(rec.backend).__name__ == "GramSums"
    assert "cannot use Triton on meta (Triton drives CUDA and ROCm GPUs, not meta)" in caplog.text
    flat.data, flat.grad = torch.zeros(10), torch.zeros(10)
    with pytest.raises(RuntimeError, match="backend 'triton' cannot run on cpu: Triton drives CUDA and ROCm GPUs"):
        GeometryRecorder(flat, torch.zeros(10), 3, backend="triton")


# Compiles the kernels for an H100 (sm_90) with Triton's own compiler and ptxas, no GPU needed: the
# interpreter above runs the kernels' Python, this catches what only the compiler checks (types,
# constexpr branches) and register spills. In a process of its own: the interpreter must be off.
COMPILE = r"""
import itertools, json, os, re, subprocess, tempfile
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from nowrongturns.geometry import triton_sums as ts

ptxas = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "ptxas")
target = GPUTarget("cuda", 90, 32)
flags = ["OWN", "WD", "UPDATE"]
step_sig = {"g_ptr": "*fp32", "w_ptr": "*fp32", "prev_ptr": "*fp32", "stars_ptr": "*fp32", "stride": "i32",
            "partials_ptr": "*fp64", "n": "i32", "n_blocks": "i32", "lam": "fp64",
            **dict.fromkeys(["K", *flags, "COPY", "BLOCK"], "constexpr")}
# As a launch specializes them: torch's buffers start 16-byte aligned, the targets' stride is a
# multiple of 16; n (the weights) is any number.
aligned = {(list(step_sig).index(a),): [["tt.divisibility", 16]]
           for a in ("g_ptr", "w_ptr", "prev_ptr", "stars_ptr", "stride", "partials_ptr")}
finish_sig = {"partials_ptr": "*fp64", "shared_ptr": "*fp64", "per_ptr": "*fp64", "n_blocks": "i32", "row": "i32",
              "u_row": "i32", **dict.fromkeys(["K", *flags, "FINISH_BLOCK"], "constexpr")}
# The per-block kernels (measure.per_block): chunks cut at the blocks' bounds, a final sum per block.
blocks_step_sig = {"g_ptr": "*fp32", "w_ptr": "*fp32", "prev_ptr": "*fp32", "stars_ptr": "*fp32", "stride": "i32",
                   "partials_ptr": "*fp64", "lo_ptr": "*i64", "hi_ptr": "*i64", "n_chunks": "i32", "lam": "fp64",
                   **dict.fromkeys(["K", *flags, "COPY", "BLOCK"], "constexpr")}
blocks_finish_sig = {"partials_ptr": "*fp64", "shared_ptr": "*fp64", "per_ptr": "*fp64", "first_ptr": "*i64",
                     "n_chunks": "i32", "n_parts": "i32", "row": "i32", "u_row": "i32",
                     **dict.fromkeys(["K", *flags, "FINISH_BLOCK"], "constexpr")}
out = []
# What TritonSums launches: a step with or without the previous update, and the update alone.
for k, wd, (own, update, copy) in itertools.product((1, 3), (False, True), ((1, 0, 1), (1, 1, 1), (0, 1, 0))):
    consts = {"K": k, "OWN": bool(own), "WD": wd and bool(own), "UPDATE": bool(update)}
    for fn, sig, extra, attrs, warps in (
            (ts.step_kernel, step_sig, {"COPY": bool(copy), "BLOCK": ts.BLOCK}, aligned, ts.NUM_WARPS),
            (ts.finish_kernel, finish_sig, {"FINISH_BLOCK": ts.FINISH_BLOCK}, None, ts.FINISH_WARPS),
            (ts.blocks_step_kernel, blocks_step_sig, {"COPY": bool(copy), "BLOCK": ts.BLOCK}, None, ts.NUM_WARPS),
            (ts.blocks_finish_kernel, blocks_finish_sig, {"FINISH_BLOCK": ts.FINISH_BLOCK}, None, ts.FINISH_WARPS)):
        kernel = triton.compile(ASTSource(fn, sig, {**consts, **extra}, attrs), target=target,
                                options={"num_warps": warps})
        with tempfile.NamedTemporaryFile("w", suffix=".ptx", delete=False) as f:
            f.write(kernel.asm["ptx"])
        info = subprocess.run([ptxas, "-v", "--gpu-name", "sm_90a", f.name, "-o", os.devnull],
                              capture_output=True, text=True).stderr
        os.unlink(f.name)
        spills = sum(map(int, re.findall(r"(\d+) bytes spill (?:stores|loads)", info)))
        out.append({"kernel": fn.__name__, **consts, "spill_bytes": spills, "ptxas": info.strip().splitlines()[-1],
                    "vector_loads": kernel.asm["ptx"].count("ld.global.v4.b32")})
print(json.dumps(out))
"""


def test_kernels_compile_for_an_h100_with_vector_loads_and_no_spills_in_a_step():
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    import triton

    if not (Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas").exists():
        pytest.skip("this Triton build carries no ptxas (not a CUDA build)")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-c", COMPILE], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    kernels = json.loads(proc.stdout.splitlines()[-1])
    assert len(kernels) == 48
    # The kernels of every step spill nothing (8 elements a thread spilled hundreds of bytes). The update
    # alone, once a segment, gets a 4-byte spill from ptxas at 32 registers: left as is.
    every_step = [k for k in kernels if k["OWN"] or k["kernel"].endswith("finish_kernel")]
    assert all(k["spill_bytes"] == 0 for k in every_step), [k for k in every_step if k["spill_bytes"]]
    assert all(k["spill_bytes"] <= 16 for k in kernels), [k for k in kernels if k["spill_bytes"]]
    # Full blocks read each vector with 16-byte loads: w, G where the step's own sums are formed,
    # w_prev where the update's are, and each target.
    for k in kernels:
        if k["kernel"] == "step_kernel":
            assert k["vector_loads"] == 1 + k["OWN"] + k["UPDATE"] + k["K"], k

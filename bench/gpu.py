"""The GPU checks, as one script for a machine with a CUDA device: `python bench/gpu.py [OUT.md]`
(a few minutes on an H100 or H200; the card's name heads every table).

1. Per model (CIFAR ResNet-18, the Transformer LM, ImageNet ResNet-50, the Medium-MLP, the digits
   MLP): measured/plain and the paper way/plain step time, interleaved epoch by epoch
   (step_overhead.py); GPU kernels per step, plain and measured (torch.profiler); host
   synchronizations per step inside the measured steps (host_sync.py); peak GPU memory of a
   measured epoch against a plain one, the plain one run before the recorder exists.
2. The metrics' GPU time per step against the floor, a Triton pass that reads G, w and w* once,
   at the three models' sizes, with a sweep of block sizes and warps.
3. Deterministic against fast kernels (ResNet-18 epoch), channels_last under deterministic, and
   the kernels that take the time under each (the cuDNN algorithms deterministic mode picks).
4. The CIFAR-10 device-resident data path against a 4-worker DataLoader.
5. Per-block sums (measure.per_block): the CIFAR ResNet-18 step measured as a whole and as a whole plus
   every block, interleaved (per_block.py; target ≤ 1.02).

`--device cpu --quick` runs the same code on the CPU with tiny sizes (a smoke test of the script
itself; its figures mean nothing). Each section that fails prints its error and the rest go on.

On the project's offline GPU machine (shared/gpu/README.md), with the wheels of fetch-wheels.sh
(and pytest's) carried in .whl/, the GPU tests and this script are one command:
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
      && export PYTHONPATH=/tmp/site:$PWD \
      && python3 -m pytest -q tests/test_triton_sums.py tests/test_host_sync.py; python3 bench/gpu.py $OUT/gpu.md
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

import metrics_floor
import standin_data
import step_overhead

from nowrongturns.geometry.recorder import GeometryRecorder
from nowrongturns.parallel.device import set_gpu_kernels
from nowrongturns.parallel.host_sync import host_syncs
from nowrongturns.train.engine import Trainer

RESNET18 = {"dataset": "cifar10", "model": "cifar_resnet18", "batch_size": 128, "optimizer": "momentum",
            "lr": 0.01, "weight_decay": 1e-6}
# ImageNet's loader decodes JPEGs on the host; the overhead of measuring is taken against the
# compute alone (one device-resident batch), which is the stricter test.
RESIDENT_STEPS = 20

# name: (settings, data writer or None, warm-up epochs, timed epochs, resident batch (batch, crop) or None, target)
MODELS = {
    "CIFAR ResNet-18 (batch 128)": (
        RESNET18, lambda root: standin_data.write_cifar10(root, train_images=3200), 1, 6, None, 1.01),
    "Transformer LM (emsize 128, 2 layers, bptt 35, batch 20)": (
        step_overhead.MODELS["Transformer LM (emsize 128, 2 layers, bptt 35, batch 20)"][0],
        lambda root: standin_data.write_wikitext2(root, train_tokens=28_000), 1, 6, None, 1.02),
    "ImageNet ResNet-50 (224 px, batch 64)": (
        {"dataset": "imagenet", "model": "resnet50", "crop_size": 224, "batch_size": 64, "optimizer": "momentum",
         "lr": 0.1, "weight_decay": 1e-4, "num_workers": 0},
        lambda root: standin_data.write_imagenet(root, size=8), 1, 4, (64, 224), 1.01),
    "CIFAR Medium-MLP (4096 wide, batch 256)": (
        {"dataset": "cifar10", "model": "medium_mlp", "width": 4096, "batch_size": 256, "optimizer": "momentum",
         "lr": 0.01, "weight_decay": 1e-6},
        lambda root: standin_data.write_cifar10(root, train_images=6400), 1, 6, None, None),
    "digits MLP (64-64-10, batch 64)": (
        step_overhead.MODELS["digits MLP (64-64-10, batch 64)"][0], None, 2, 12, None, 1.10),
    # The zoo adapters (issue 23): the images and the token blocks live on the device, so no resident batch.
    "timm ResNet-50 (image folder, 224 px, batch 64)": (
        {"dataset": "image_folder", "model": "timm:resnet50", "image_size": 224, "augment": True, "batch_size": 64,
         "optimizer": "momentum", "lr": 0.1, "weight_decay": 1e-4},
        lambda root: standin_data.write_image_folder(root, classes=10, per_class=32, size=256), 1, 6, None, 1.01),
    "transformers GPT-2 (2 layers, width 128, block 128, batch 20)": (
        step_overhead.MODELS["transformers GPT-2 (2 layers, width 128, block 128, batch 20)"][0],
        lambda root: standin_data.write_wikitext2(root, train_tokens=60_000), 1, 6, None, 1.02),
}
QUICK = {  # --quick: tiny stand-ins of the same code paths
    "CIFAR ResNet-18 (batch 128)": ({**RESNET18, "batch_size": 16}, lambda r: standin_data.write_cifar10(r, 80),
                                    1, 1, None, 1.01),
    "ImageNet ResNet-50 (224 px, batch 64)": (
        {"dataset": "imagenet", "model": "resnet50", "crop_size": 32, "batch_size": 2, "optimizer": "momentum",
         "lr": 0.1, "num_workers": 0}, lambda r: standin_data.write_imagenet(r, classes=10, size=8), 1, 1, (2, 32),
        1.01),
    "digits MLP (64-64-10, batch 64)": MODELS["digits MLP (64-64-10, batch 64)"][:2] + (1, 1, None, 1.10),
}


def resident_batch(batch: int, crop: int, steps: int):
    """prepare(trainer): the task feeds one fixed random batch that lives on the device, `steps` an epoch."""

    def prepare(trainer: Trainer) -> None:
        task, gen = trainer.task, torch.Generator().manual_seed(0)
        classes = task.model.fc.out_features
        x = torch.randn(batch, 3, crop, crop, generator=gen).to(trainer.device, trainer.dtype)
        y = torch.randint(0, classes, (batch,), generator=gen).to(trainer.device)
        task.plan = lambda epoch: None
        task.loss = lambda plan, i, epoch: F.cross_entropy(task.model(x), y)
        task.steps_per_epoch = trainer.steps_per_epoch = steps

    return prepare


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _trainer(settings: dict, data_dir, device, resident, epochs=100) -> Trainer:
    trainer = Trainer(step_overhead._settings({**settings, "device": device}, epochs, data_dir), "gpu-bench")
    if resident:
        resident_batch(*resident, RESIDENT_STEPS)(trainer)
    return trainer


def _kernels_per_step(trainer: Trainer, recorder) -> float:
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if trainer.device.type == "cuda" else [])
    plan = trainer.task.plan(trainer.epoch)
    with profile(activities=activities) as prof:
        trainer.run_steps(plan, recorder, first_row=0)
        _sync(trainer.device)
    kernels = [e for e in prof.events() if str(getattr(e, "device_type", "")).endswith("CUDA")]
    return len(kernels) / trainer.steps_per_epoch


def _peak_mib(trainer: Trainer, recorder) -> float:
    trainer.run_epoch(recorder, first_row=0)  # warm: allocator caches, kernels compiled
    _sync(trainer.device)
    torch.cuda.reset_peak_memory_stats()
    trainer.run_epoch(recorder, first_row=0)
    _sync(trainer.device)
    return torch.cuda.max_memory_allocated() / 2**20


def model_section(name, spec, device, data_root, say) -> dict:
    settings, writer, warmup, epochs, resident, target = spec
    data_dir = writer(data_root / name.split()[0].lower() / str(abs(hash(name)))) if writer else None
    prepare = resident_batch(*resident, RESIDENT_STEPS) if resident else None
    r = step_overhead.measure(settings, writer, warmup, epochs, None, device, prepare)
    out = {"plain ms": r["plain_ms"], "measured/plain": r["measure/plain"], "paper way/plain": r["paper/plain"],
           "paper overhead / ours": r["paper overhead / ours"], "target": target}
    # Kernels, syncs and memory on a trainer of its own, the plain epochs before the recorder exists.
    trainer = _trainer(settings, data_dir, device, resident)
    n, spe = trainer.flat.numel, trainer.steps_per_epoch
    out["weights"] = n
    if trainer.device.type == "cuda":
        out["peak plain MiB"] = _peak_mib(trainer, None)
    out["kernels plain"] = _kernels_per_step(trainer, None)
    before = torch.cuda.memory_allocated() if trainer.device.type == "cuda" else 0
    w_star = trainer.flat.data.detach().clone()
    held0 = torch.cuda.memory_allocated() if trainer.device.type == "cuda" else 0
    recorder = GeometryRecorder(trainer.flat, w_star, spe, settings.get("weight_decay", 0.0))
    del w_star
    if trainer.device.type == "cuda":
        out["recorder MiB"] = (torch.cuda.memory_allocated() - before) / 2**20
        out["recorder MiB, expected"] = (held0 - before) * 2 / 2**20  # the target and w_prev, training precision
        out["peak measured MiB"] = _peak_mib(trainer, recorder)
    out["kernels measured"] = _kernels_per_step(trainer, recorder)
    trainer.run_epoch(recorder, first_row=0)
    plan = trainer.task.plan(trainer.epoch)
    with host_syncs() as sites:
        trainer.run_steps(plan, recorder, first_row=0)
    _sync(trainer.device)
    out["host syncs per step"] = sum(sites.values()) / spe
    out["sync sites"] = dict(sites)
    out["backend"] = type(recorder.backend).__name__
    say(f"- {name}: {out}")
    return out


def models_table(results: dict, card: str) -> list[str]:
    lines = [f"## 1. Measuring during training, per model ({card})", "",
             ("| model | weights | plain ms/step | measured/plain (target) | paper way/plain | paper overhead / ours "
             "(target ≥ 5) | GPU kernels per step, plain / measured | host syncs per step | peak GPU MiB, plain "
             "/ measured | recorder holds MiB (targets + w_prev) |"), "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error']} |")
            continue
        target = f" (≤ {r['target']}: {'met' if r['measured/plain'] <= r['target'] else '**missed**'})" \
            if r["target"] else ""
        nan = float("nan")  # the memory figures exist on a GPU only
        peak = f"{r.get('peak plain MiB', nan):.0f} / {r.get('peak measured MiB', nan):.0f}"
        held = f"{r.get('recorder MiB', nan):.1f} (expected {r.get('recorder MiB, expected', nan):.1f})"
        lines.append(f"| {name} | {r['weights']:,} | {r['plain ms']:.2f} | {r['measured/plain']:.3f}{target} "
                     f"| {r['paper way/plain']:.3f} | {r['paper overhead / ours']:.1f} "
                     f"| {r['kernels plain']:.0f} / {r['kernels measured']:.0f} | {r['host syncs per step']:.2f} "
                     f"| {peak} | {held} |")
    return lines


# --- 2. the metrics against the floor --------------------------------------------------------------

def _floor_kernel():
    import triton
    import triton.language as tl

    @triton.jit
    def read3(a_ptr, b_ptr, c_ptr, out_ptr, n, n_blocks, BLOCK: tl.constexpr):
        """Reads three vectors once and writes one partial sum per block: the least any per-step sum of
        G, w and w* can cost. Full blocks unmasked (16-byte loads), as in the metrics' kernel."""
        pid = tl.program_id(0)
        offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        if pid < n_blocks - 1:
            x = tl.load(a_ptr + offs) + tl.load(b_ptr + offs) + tl.load(c_ptr + offs)
        else:
            mask = offs < n
            x = (tl.load(a_ptr + offs, mask=mask, other=0.0) + tl.load(b_ptr + offs, mask=mask, other=0.0)
                 + tl.load(c_ptr + offs, mask=mask, other=0.0))
        tl.store(out_ptr + pid, tl.sum(x, axis=0))

    def run(a, b, c, out, block=4096):
        n_blocks = triton.cdiv(a.numel(), block)
        read3[(n_blocks,)](a, b, c, out, a.numel(), n_blocks, BLOCK=block)

    return run


def _gpu_ms(fn, repeats: int) -> float:
    """Median GPU time of fn(i) in ms, by CUDA events around each call, after a warm-up."""
    fn(0)
    times = []
    for i in range(1, repeats + 1):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(i)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def _metrics_ms(flat, w_star, reps: int, **backend_options) -> float:
    """GPU time of one step of the metrics (before_step + after_step) in the steady state of a replay:
    one target, weight decay on, the previous step's update sums folded in."""
    from nowrongturns.geometry.triton_sums import TritonSums

    rec = GeometryRecorder(flat, w_star, reps + 2, 1e-4, backend="triton")
    if backend_options:
        rec.backend = TritonSums(flat, [w_star], reps + 2, True, **backend_options)
    return _gpu_ms(lambda i: rec.before_step(i) or rec.after_step(i), reps)


def floor_section(device: str, quick: bool, say) -> list[str]:
    from nowrongturns.geometry.triton_sums import BLOCK, NUM_WARPS

    sizes = {"tiny": 10_000} if quick else {"ResNet-18": 11_173_962, "ResNet-50": 25_557_032,
                                            "Medium-MLP": 46_178_314}
    reps = 2 if quick else 50
    floor = _floor_kernel()
    lines = ["", "## 2. The metrics' GPU time per step against the floor (a Triton pass that reads G, w, w* once)",
             "", (f"Default block {BLOCK}, {NUM_WARPS} warps; one target, weight decay on, update sums folded "
             "(the replay's steady state)."), "",
             ("| model size | weights | metrics ms | floor ms | metrics / floor (target ≤ 2) "
             "| block/warps: ms |"), "|---|---|---|---|---|---|"]
    for label, n in sizes.items():
        flat = metrics_floor._Flat(n, device)
        w_star = flat.data + 1e-3
        partials = torch.empty(-(-n // 4096), dtype=torch.float32, device=device)
        t_metrics = _metrics_ms(flat, w_star, reps)
        t_floor = _gpu_ms(lambda i, f=flat, s=w_star, p=partials: floor(f.grad, f.data, s, p), reps)
        sweep = {f"{b}/{w}": _metrics_ms(flat, w_star, reps, block=b, num_warps=w)
                 for b, w in ((512, 4), (1024, 4), (2048, 8), (2048, 16), (4096, 16))}
        ratio = t_metrics / t_floor
        lines.append(f"| {label} | {n:,} | {t_metrics:.4f} | {t_floor:.4f} | {ratio:.2f} "
                     f"({'met' if ratio <= 2 else '**missed**'}) | "
                     + ", ".join(f"{k}: {v:.4f}" for k, v in sweep.items()) + " |")
        say(lines[-1])
    return lines


# --- 3. deterministic against fast ------------------------------------------------------------------

def _epoch_s(trainer: Trainer, policy: str, epochs: int) -> float:
    """Median wall time of a plain training epoch after one warm-up, under the kernel policy (a
    process-wide setting)."""
    set_gpu_kernels(policy)
    times = []
    for i in range(epochs + 1):
        _sync(trainer.device)
        t0 = time.perf_counter()
        step_overhead._plain_epoch(trainer, i, paper_way=False)
        _sync(trainer.device)
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _top_kernels(trainer: Trainer, policy: str, k: int = 6) -> str:
    from torch.profiler import ProfilerActivity, profile

    set_gpu_kernels(policy)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        step_overhead._plain_epoch(trainer, 0, paper_way=False)
        _sync(trainer.device)
    totals: dict = {}
    for e in prof.events():
        if str(getattr(e, "device_type", "")).endswith("CUDA"):
            totals[e.name] = totals.get(e.name, 0) + (getattr(e, "device_time", 0) or 0)
    top = sorted(totals.items(), key=lambda kv: -kv[1])[:k]
    whole = sum(totals.values()) or 1
    return "; ".join(f"`{n[:90]}` {100 * t / whole:.0f}%" for n, t in top)


def determinism_section(data_dir, device: str, epochs: int, say) -> list[str]:
    trainer = _trainer(RESNET18, data_dir, device, None)
    t_det = _epoch_s(trainer, "deterministic", epochs)
    t_fast = _epoch_s(trainer, "fast", epochs)
    cl = _trainer(RESNET18, data_dir, device, None)
    cl.model.to(memory_format=torch.channels_last)  # plain training only: the weights leave the flat buffer
    t_cl = _epoch_s(cl, "deterministic", epochs)
    lines = ["", "## 3. Deterministic against fast kernels (CIFAR ResNet-18, batch 128)", "",
             f"- epoch: deterministic {t_det:.3f} s, fast {t_fast:.3f} s: deterministic costs {t_det / t_fast:.2f}×",
             f"- channels_last under deterministic: {t_cl:.3f} s ({t_det / t_cl:.2f}× faster than NCHW deterministic)"]
    if torch.device(device).type == "cuda":
        lines += [f"- top kernels, deterministic: {_top_kernels(trainer, 'deterministic')}",
                  f"- top kernels, fast: {_top_kernels(trainer, 'fast')}",
                  f"- top kernels, channels_last deterministic: {_top_kernels(cl, 'deterministic')}"]
    set_gpu_kernels("deterministic")
    for line in lines:
        say(line)
    return lines


def data_path_section(data_dir, device: str, epochs: int, quick: bool, say) -> list[str]:
    resident = _epoch_s(_trainer(RESNET18, data_dir, device, None), "deterministic", epochs)
    workers = 0 if quick else 4
    loader = _epoch_s(_trainer({**RESNET18, "data_path": "loader", "num_workers": workers}, data_dir, device, None),
                      "deterministic", epochs)
    line = (f"- ResNet-18 epoch: device-resident data {resident:.3f} s, DataLoader ({workers} workers, pinned) "
            f"{loader:.3f} s: {loader / resident:.2f}×")
    say(line)
    return ["", "## 4. CIFAR-10 data path", "", line]


def per_block_section(device: str, quick: bool, say) -> list[str]:
    import per_block

    row = per_block.measure(warmup=1, epochs=2 if quick else 4, images=160 if quick else 3200, device=device)
    ratio = row["per_block/plain (step)"]
    lines = ["", "## 5. Per-block sums (measure.per_block), CIFAR ResNet-18, batch 128", "",
             "| blocks | plain step ms | per_block / plain (target ≤ 1.02) |", "|---|---|---|",
             f"| {row['blocks']} | {row['plain step ms']:.2f} | {ratio:.3f} ({'met' if ratio <= 1.02 else '**missed**'}) |"]
    say(lines[-1])
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default=str(Path(__file__).resolve().parent / "GPU_RESULTS.md"))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: check that the script runs")
    args = ap.parse_args()
    dev, quick = args.device, args.quick
    card = torch.cuda.get_device_name() if dev == "cuda" else "CPU (smoke test, figures meaningless)"
    lines = [f"# GPU benchmarks: {card}", "",
             (f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"), ""]

    def say(text=""):
        print(text, flush=True)

    def section(fn, *a):
        try:
            return fn(*a)
        except Exception as e:  # noqa: BLE001  one failed section must not cost the others' figures
            traceback.print_exc()
            return ["", f"{fn.__name__} failed: {type(e).__name__}: {e}"]

    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for name, spec in (QUICK if quick else MODELS).items():
            try:
                results[name] = model_section(name, spec, dev, Path(tmp), say)
            except Exception as e:  # noqa: BLE001  one failed model must not cost the others
                traceback.print_exc()
                results[name] = {"error": f"{type(e).__name__}: {e}"}
        lines += models_table(results, card)
        lines += section(floor_section, dev, quick, say) if dev == "cuda" else []
        cifar = standin_data.write_cifar10(Path(tmp) / "cifar", train_images=160 if quick else 12_800)
        epochs = 1 if quick else 3
        lines += section(determinism_section, cifar, dev, epochs, say)
        lines += section(data_path_section, cifar, dev, epochs, quick, say)
        lines += section(per_block_section, dev, quick, say) if dev == "cuda" else []
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

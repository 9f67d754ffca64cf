"""Which device a job runs on, and how deterministic its GPU kernels are.

Below the training loop and the launcher, which both ask what the run setting `device` means here.
"""
from __future__ import annotations

import os

import torch

from nowrongturns.parallel import distributed, gpu_slots


def set_gpu_kernels(policy: str) -> None:
    """deterministic: the replay retraces the reference pass bit for bit (same GPU model and software);
    fast: cuDNN autotuning, TF32 and nondeterministic kernels (the replay only stays near it)."""
    if policy not in ("deterministic", "fast"):
        raise ValueError(f"run setting gpu_kernels = {policy!r}: expected deterministic or fast")
    exact = policy == "deterministic"
    if exact:  # cuBLAS needs a fixed workspace for deterministic results; read when CUDA starts
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(exact)
    torch.backends.cudnn.benchmark = not exact
    torch.backends.cuda.matmul.allow_tf32 = not exact
    torch.backends.cudnn.allow_tf32 = not exact


def device_type(name: str) -> str:
    """cpu or cuda: what the run setting device (cpu, cuda or auto) means on this machine."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def resolve_device(name: str, gpu_kernels: str = "deterministic") -> torch.device:
    """cpu, cuda, or auto: the GPU when one is visible, the CPU otherwise. With several GPUs
    visible, the job takes one that no other job on this machine holds."""
    name = device_type(name)
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("run setting device = 'cuda', but no CUDA device is visible")
        set_gpu_kernels(gpu_kernels)
        if distributed.group().active:  # the launcher gave each rank a GPU of its node: its local rank's
            index = distributed.group().local_rank % torch.cuda.device_count()
        else:
            index = gpu_slots.claim(gpu_slots.gpu_keys())
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return torch.device(name)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        name = f"cuda ({torch.cuda.get_device_name(device)})"
    else:
        name = f"cpu ({torch.get_num_threads()} thread{'s' if torch.get_num_threads() > 1 else ''})"
    ranks = distributed.group().world_size
    return f"{name} x {ranks} ranks" if ranks > 1 else name

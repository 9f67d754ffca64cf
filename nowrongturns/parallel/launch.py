"""Start the ranks of a job whose run has world_size > 1, wait for them, and report the one that failed.

The job's own process (a Snakemake job, or the nowrongturns command) holds the run's lock and launches;
the ranks (`python -m nowrongturns.rank SPEC`) do the work. Inside a SLURM allocation of enough tasks the
ranks are srun's tasks, spread over the allocation's nodes; elsewhere torchrun --standalone starts them on
this machine. Each rank logs to a file of its own (paths.rank_log); rank 0's log is copied into the job's.
"""
from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from nowrongturns.config.settings import RunSettings
from nowrongturns.storage import paths
from nowrongturns.storage.files import write_json

log = logging.getLogger("nowrongturns")
TAIL_LINES = 40  # of a failed rank's log, in the job's error


class RankFailed(RuntimeError):
    """A rank of a multi-rank job exited with an error or was killed."""


def needs_ranks(run: RunSettings) -> bool:
    """Does this job start ranks (True), or is it a rank, or a single-process run (False)?"""
    from nowrongturns.parallel import distributed

    return run.world_size > 1 and not distributed.group().active


def slurm_allocation() -> dict | None:
    """{NodeList, NumNodes, NumTasks} of the SLURM job this process runs in, or None outside one. Asked of
    scontrol: Snakemake's job step clears the job's SLURM_* variables but SLURM_JOB_ID."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return None
    shown = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True, text=True, check=False).stdout
    found = {k: re.search(rf"\b{k}=(\S+)", shown) for k in ("NodeList", "NumNodes", "NumTasks")}
    if not all(found.values()):
        return None
    return {k: m.group(1) for k, m in found.items()}


def on_slurm(ranks: int) -> dict | None:
    """The allocation, where it has a task for every rank (a job the profile submitted with `tasks`)."""
    allocation = slurm_allocation()
    return allocation if allocation and int(allocation["NumTasks"]) >= ranks else None


def check_gpus(run: RunSettings, visible: int) -> None:
    """A local run of several ranks on GPUs needs a GPU per rank: a start-up error naming both numbers."""
    ranks, device = run.world_size, run.device
    if device == "cpu" or (device == "auto" and visible == 0):
        return  # CPU ranks
    if ranks > visible:
        shown = os.environ.get("CUDA_VISIBLE_DEVICES")
        raise RankFailed(f"run setting world_size = {ranks} asks for a GPU per rank, but this machine sees {visible} "
                         f"GPU{'s' if visible != 1 else ''}" + (f" (CUDA_VISIBLE_DEVICES={shown})" if shown else "")
                         + ": lower world_size, or submit the run to a cluster (profiles/slurm)")


def visible_devices(claimed: list[int], visible: str | None) -> str:
    """CUDA_VISIBLE_DEVICES for the ranks: the claimed GPUs, as the job itself names them."""
    names = visible.split(",") if visible else None
    return ",".join(names[i] if names else str(i) for i in claimed)


def rank_command(spec: str, ranks: int, cpus: int, gpus: bool, mpi: str | None,
                 allocation: dict | None) -> tuple[list[str], dict]:
    """The command that starts the ranks and the environment it needs. cpus: per rank; gpus: one GPU per rank;
    allocation: the SLURM allocation the ranks run in (None: this machine)."""
    env = {**os.environ}
    # The ranks import this package from where the job found it (next to scripts/, or installed).
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [env.get("PYTHONPATH")])])
    rank_main = [sys.executable, "-m", "nowrongturns.rank", spec]
    if allocation:
        env["MASTER_ADDR"] = master_addr(allocation["NodeList"])
        env["MASTER_PORT"] = str(20000 + int(os.environ["SLURM_JOB_ID"]) % 20000)  # one port per job
        # A step of the job: its tasks in block order over its nodes (rank 0 on the first), each with its CPUs
        # (srun does not inherit sbatch's --cpus-per-task) and its GPU.
        step = [f"--ntasks={ranks}", f"--nodes={allocation['NumNodes']}", f"--cpus-per-task={cpus}",
                "--kill-on-bad-exit=1", *(["--gpus-per-task=1"] if gpus else [])]
        return [*shlex.split(mpi or "srun"), *step, *rank_main], env
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
                f"--nproc-per-node={ranks}", "--max-restarts=0"]
    return [*torchrun, *rank_main[1:]], env


def master_addr(nodelist: str) -> str:
    """The address of the allocation's first node, where rank 0 runs."""
    nodes = subprocess.run(["scontrol", "show", "hostnames", nodelist],
                           capture_output=True, text=True, check=True).stdout.split()
    shown = subprocess.run(["scontrol", "show", "node", nodes[0]], capture_output=True, text=True, check=False).stdout
    found = re.search(r"NodeAddr=(\S+)", shown)
    return found.group(1) if found else nodes[0]


def ranks(entry: str, kwargs: dict, run: RunSettings, run_dir, job: str, mpi: str | None = None) -> None:
    """Run entry (rank.ENTRIES) on world_size ranks; RankFailed naming the rank that failed, with its log.
    kwargs go to the ranks as JSON: their settings as a dict (RunSettings.to_dict)."""
    import torch

    from nowrongturns.parallel.device import device_type

    n = run.world_size
    gpus = device_type(run.device) == "cuda"
    allocation = on_slurm(n)
    if not allocation:  # (SLURM gives each task its GPU)
        check_gpus(run, torch.cuda.device_count())
    spec = paths.rank_spec(str(run_dir), job)
    write_json({"entry": entry, "kwargs": kwargs, "run_dir": str(run_dir), "job": job}, spec)
    logs = [paths.rank_log(str(run_dir), job, r) for r in range(n)]
    for path in logs:  # a log left by an earlier attempt would be read as this one's
        Path(path).unlink(missing_ok=True)
    cmd, env = rank_command(spec, n, run.threads + run.num_workers, gpus, mpi, allocation)
    if gpus and not allocation:  # n GPUs no other job of this machine holds, one per rank (by local rank)
        from nowrongturns.parallel import gpu_slots

        claimed = gpu_slots.claim_many(gpu_slots.gpu_keys(), n)
        env["CUDA_VISIBLE_DEVICES"] = visible_devices(claimed, os.environ.get("CUDA_VISIBLE_DEVICES"))
    log.info("starting %d ranks: %s", n, shlex.join(cmd))
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if proc.returncode != 0:
        raise RankFailed(failure_report(proc.returncode, proc.stdout, logs))
    for line in Path(logs[0]).read_text(encoding="utf-8").splitlines():
        log.info("rank 0 | %s", line)
    log.info("all %d ranks done; their logs: %s", n, Path(logs[0]).parent)


def failed_rank(launcher_output: str, logs: list[str]) -> int | None:
    """The rank that failed first: as torchrun's error summary or srun names it, else the first rank whose log
    has an error, else the first whose log never said it was done."""
    torchrun = re.search(r"Root Cause.*?rank\s*:\s*(\d+)", launcher_output, flags=re.DOTALL)
    if torchrun:
        return int(torchrun.group(1))
    srun = re.search(r"task (\d+): (?:Exited|Killed|Terminated)", launcher_output)
    if srun:
        return int(srun.group(1))
    texts = [Path(p).read_text(encoding="utf-8") if Path(p).exists() else "" for p in logs]
    for marker in (lambda t: " ERROR " in t, lambda t: DONE not in t):
        found = [r for r, t in enumerate(texts) if marker(t)]
        if found:
            return found[0]
    return None


DONE = "rank done"  # a rank's last log line when it succeeded


def failure_report(returncode: int, launcher_output: str, logs: list[str]) -> str:
    rank = failed_rank(launcher_output, logs)
    tail = "\n".join(launcher_output.strip().splitlines()[-15:])
    if rank is None:
        return f"the ranks failed (exit status {returncode}) and none of their logs says why; the launcher said:\n{tail}"
    path = Path(logs[rank])
    own = path.read_text(encoding="utf-8").splitlines()[-TAIL_LINES:] if path.exists() else ["(no log: it died first)"]
    return (f"rank {rank} of {len(logs)} failed (exit status {returncode}); its log {path} ends:\n"
            + "\n".join(own) + f"\nThe launcher said:\n{tail}")

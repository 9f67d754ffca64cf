"""Command line: inspect a config and run single stages outside Snakemake.

    nowrongturns runs config.yaml                     # list the runs a config expands to
    nowrongturns reference config.yaml RUN_ID         # the reference pass of one run
    nowrongturns measure config.yaml RUN_ID SEGMENT   # one replay segment
    nowrongturns weights config.yaml RUN OUT          # a run's w* as a state dict, to start another from
    nowrongturns data list                            # the paper's data sets: sizes, licences, sources
    nowrongturns data fetch cifar10 --to DIR          # download one, checked against its published checksums
    nowrongturns data check DIR --dataset imagenet    # what a data folder holds, and what it lacks

A run with world_size > 1 starts its ranks (torchrun on this machine, srun inside a SLURM allocation).
"""
from __future__ import annotations

import argparse
import sys

from nowrongturns.config import ConfigError, load_file
from nowrongturns.config.jobs import FullBatchJob, ReferenceJob, ReplayJob, reference_job, replay_job


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="nowrongturns", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("runs", help="validate a config and list its runs")
    p.add_argument("config")
    p = sub.add_parser("reference", help="run (or resume) the reference pass of one run")
    p.add_argument("config")
    p.add_argument("run_id")
    p = sub.add_parser("measure", help="replay one segment of one run")
    p.add_argument("config")
    p.add_argument("run_id")
    p.add_argument("segment", type=int)
    p = sub.add_parser("weights", help="write a run's weights as a state dict (.safetensors or .pt), for init_from")
    p.add_argument("config")
    p.add_argument("run", help="a run id, or <study>/<label> as the study's legends show it (e.g. spirals/seed=0)")
    p.add_argument("out", help="the file to write: .safetensors or .pt")
    p.add_argument("--epoch", type=int, help="a checkpointed epoch (default: the last, w*)")
    data = sub.add_parser("data", help="the paper's data sets: list, fetch, check")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    data_sub.add_parser("list", help="each data set: size, licence, where it comes from")
    p = data_sub.add_parser("fetch", help="download a data set into a folder and check its published checksums")
    p.add_argument("dataset")
    p.add_argument("--to", required=True, metavar="DIR", help="the folder to fill (it then is a data_dir)")
    p.add_argument("--mirror", action="append", metavar="URL",
                   help="an address to try first (repeatable; 'builtin' places the catalog's own sources)")
    p.add_argument("--retries", type=int, default=3, help="retries per address (default: 3)")
    p = data_sub.add_parser("check", help="what a data folder holds, counted, and what is missing or malformed")
    p.add_argument("folder")
    p.add_argument("--dataset", required=True)
    args = parser.parse_args(argv)
    if args.command == "data":
        from nowrongturns.datasets.command import data_command

        return data_command(args)

    try:
        pipe = load_file(args.config)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    from nowrongturns.logs import logged

    if args.command == "runs":
        for name, study in pipe.studies.items():
            print(f"study {name}: {len(study.runs)} runs")
            for run_id in study.runs:
                print(f"  {run_id}  ({study.labels[run_id]}, {len(pipe.segments(run_id))} segments)")
        return 0
    if args.command == "weights":
        return _weights(pipe, args.run, args.out, args.epoch)
    try:
        if args.command == "reference":
            job = reference_job(pipe, args.run_id)
        else:
            job = replay_job(pipe, args.run_id, args.segment)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with logged():
        run_job(job)
    return 0


def _weights(pipe, run: str, out: str, epoch: int | None) -> int:
    """Export a checkpoint's model state: the w* of one study as the start of another (init_from)."""
    from nowrongturns.storage import paths

    run_id = pipe.run_named(run)
    if run_id is None:
        print(f"error: no run {run!r} in the config (a run id, or <study>/<label>: nowrongturns runs lists both)",
              file=sys.stderr)
        return 2
    epoch = pipe.runs[run_id].typed.epochs if epoch is None else epoch
    checkpoint = paths.checkpoint(paths.run_dir(pipe.results, run_id), epoch)
    from nowrongturns.train.pretrained import export_weights

    try:
        export_weights(checkpoint, out)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out}: the weights of {run_id} after epoch {epoch}")
    return 0


def run_job(job: ReferenceJob | ReplayJob | FullBatchJob, mpi: str | None = None) -> None:
    """Start the pass a job names. The passes import torch: imported here, not where jobs are planned."""
    if isinstance(job, ReferenceJob):
        from nowrongturns.reference import run_reference

        run_reference(job.settings, job.run_id, job.run_dir, job.checkpoint_every, job.w0, job.w_star, job.history,
                      budgets=job.budgets, mpi=mpi)
    elif isinstance(job, FullBatchJob):
        from nowrongturns.full_batch import run_full_batch_segment

        run_full_batch_segment(job.settings, job.run_id, job.run_dir, job.segment, job.start, job.end, job.targets,
                               job.every, job.out, job.tolerance, job.forks)
    else:
        from nowrongturns.replay import run_segment

        run_segment(job.settings, job.run_id, job.run_dir, job.segment, job.start, job.end, job.targets, job.out,
                    job.tolerance, job.forks, mpi=mpi, per_block=job.per_block)


if __name__ == "__main__":
    sys.exit(main())

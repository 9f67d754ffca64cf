"""Command line: inspect a config and run single stages outside Snakemake.

    nowrongturns runs config.yaml                     # list the runs a config expands to
    nowrongturns reference config.yaml RUN_ID         # the reference pass of one run
    nowrongturns measure config.yaml RUN_ID SEGMENT   # one replay segment

A run with world_size > 1 starts its ranks (torchrun on this machine, srun inside a SLURM allocation).
"""
from __future__ import annotations

import argparse
import sys

from . import paths
from .config import ConfigError, load_file


def _run(pipe, run_id: str):
    if run_id not in pipe.runs:
        raise ConfigError(f"unknown run id {run_id!r}; `nowrongturns runs CONFIG` lists them")
    return pipe.runs[run_id]


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
    args = parser.parse_args(argv)

    try:
        pipe = load_file(args.config)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    from .logs import logged

    if args.command == "runs":
        for name, study in pipe.studies.items():
            print(f"study {name}: {len(study.runs)} runs")
            for run_id in study.runs:
                print(f"  {run_id}  ({study.labels[run_id]}, {len(pipe.segments(run_id))} segments)")
        return 0
    try:
        run = _run(pipe, args.run_id)
        if pipe.trunk[run.run_id] != run.run_id:
            raise ConfigError(f"run {run.run_id} is the first {run.settings['epochs']} epochs of "
                              f"{pipe.trunk[run.run_id]}: train and replay that run (Snakemake does both)")
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    run_dir = paths.run_dir(pipe.results, run.run_id)
    with logged():
        if args.command == "reference":
            from .reference import run_reference

            run_reference(run.settings, run.run_id, run_dir, pipe.measure["checkpoint_every"],
                          paths.w0(run_dir), paths.w_star(run_dir), paths.history(run_dir),
                          budgets=list(pipe.budgets[run.run_id]))
        else:
            from .replay import run_segment

            start, end = pipe.segments(run.run_id)[args.segment]
            run_segment(run.settings, run.run_id, run_dir, args.segment, start, end,
                        {b: paths.w_star(paths.run_dir(pipe.results, r)) for b, r in pipe.budgets[run.run_id].items()},
                        paths.segment(run_dir, args.segment), pipe.measure["drift_tolerance"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

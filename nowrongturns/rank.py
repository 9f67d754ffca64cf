"""One rank of a multi-rank job: `python -m nowrongturns.rank SPEC`, as launch.ranks starts it.

Reads what to run from SPEC (written by the launcher), joins the process group, logs to its own file.
Under srun, the rank's place comes from SLURM_PROCID, SLURM_NTASKS and SLURM_LOCALID.
"""
from __future__ import annotations

import json
import logging
import os
import sys

from nowrongturns.config.settings import RunSettings
from nowrongturns.logs import logged
from nowrongturns.parallel import distributed
from nowrongturns.parallel.device import device_type
from nowrongturns.parallel.launch import DONE
from nowrongturns.storage import paths

log = logging.getLogger("nowrongturns")
SLURM_NAMES = {"RANK": "SLURM_PROCID", "WORLD_SIZE": "SLURM_NTASKS", "LOCAL_RANK": "SLURM_LOCALID"}


def _reference(**kwargs):
    from nowrongturns.reference import train_reference

    train_reference(**kwargs)


def _segment(targets, **kwargs):
    from nowrongturns.replay import run_replay

    run_replay(targets={int(b): p for b, p in targets.items()}, **kwargs)  # JSON keys are strings


ENTRIES = {"reference": _reference, "segment": _segment}


def main(argv=None) -> int:
    (spec_path,) = argv if argv is not None else sys.argv[1:]
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    for ours, slurm in SLURM_NAMES.items():
        if ours not in os.environ:
            os.environ[ours] = os.environ[slurm]
    rank, ranks = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    with logged(paths.rank_log(spec["run_dir"], spec["job"], rank), echo=rank == 0):
        log.info("rank %d of %d (local rank %s), pid %d: %s", rank, ranks, os.environ["LOCAL_RANK"], os.getpid(),
                 spec["job"])
        distributed.init(device_type(RunSettings.from_dict(spec["kwargs"]["settings"]).device))
        ENTRIES[spec["entry"]](**spec["kwargs"])
        distributed.barrier()  # no rank leaves while another may still need it
        distributed.shutdown()
        log.info(DONE)
    return 0


if __name__ == "__main__":
    sys.exit(main())

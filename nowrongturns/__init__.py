"""Measure the geometry of optimization paths (RSI, EB, γ, loLR), after 'No Wrong Turns'.

Layers, top first; a module imports its own layer and those below, never above (tests/test_layers.py):

  cli, rank, __main__      the command line; one rank of a multi-rank job
  reference, replay        the passes a rule runs: the reference pass, the measurement over one segment,
  full_batch, forks,         the full-batch gradients, decorrelated references (forks), the straight path,
  straight_path, sharpness   λ_max of the loss's Hessian
  stats, report_tables,    per-epoch and per-block statistics and loLR, the study tables, the figures, the
  plots, findings            numbers the analyses found (no torch)
  train/                   the one training loop (engine), optimizers and schedules, checkpoints, drift
  tasks/  geometry/        what is trained (data, models, the paper's data sets, seeding); the per-step
                           sums against every w* and RSI, EB, γ, loLR from them
  parallel/                devices, ranks and their launch, GPU slots, the host-sync guard
  datasets/                downloads (fetch), a folder's report (inspect), `nowrongturns data` (no torch)
  config/                  the config → studies → content-addressed runs, each job's inputs (no torch:
                           Snakemake imports it to plan)
  datasets/catalog,        the paper's data sets' sources and published checksums; is a folder the
    published                published data
  storage/, logs           paths, checked atomic files, run locks, data fingerprints; job logs

The rules' scripts import the passes and the report modules by these top-level names: a script that
changes reruns every finished job of the rule, so the names stay.
"""
__version__ = "0.1.0"

"""Measure the geometry of optimization paths (RSI, EB, γ, loLR), after 'No Wrong Turns'.

Modules, one job each:
  config    — validate config.yaml, expand studies into content-addressed runs (no torch)
  seeding   — every random choice as a pure function of (seed, epoch, step)
  data      — data sets held as device tensors, minibatch plans per epoch
  models    — networks and the paper's counterexample objectives
  tasks     — data + model + loss for one run
  optim     — optimizers and learning-rate schedules
  flat      — parameters re-seated as views of one flat buffer
  geometry  — per-step sums on the device, against one or several w*
  metrics   — RSI, EB, γ, loLR and the per-step table from those sums (no torch)
  paper_tasks — CIFAR-10, ImageNet, WikiText-2/PTB and Vaihingen (loaders/, architectures/)
  engine    — the one training loop both passes share
  reference — the reference pass: w0, checkpoints, w*, resume
  replay    — the measurement pass over one segment, with its drift check
  stats     — per-epoch statistics and the loLR table (no torch)
  plots     — the paper's figures (no torch)
  io, logs  — atomic writes; progress logging to a rule's log
  cli       — `nowrongturns runs|reference|measure` outside Snakemake
"""
__version__ = "0.1.0"

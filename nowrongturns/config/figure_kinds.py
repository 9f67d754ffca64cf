"""Every figure kind in one place: the tables it reads per run, what it shows, the paper's figure it
reproduces. Imports neither torch nor matplotlib: the Snakefile reads it on every start, plots.py
draws from it and the schema test checks the schema's figure lists against it.

A kind's report caption is report/<kind>.rst (tests/test_report.py checks each kind has one).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FigureKind:
    tables: tuple[str, ...]  # the tables read for each run of the study (paths: nowrongturns.storage.paths.table)
    shows: str  # the figure's title, before what the runs share
    paper: str  # the paper's figure(s) it reproduces, or "beyond the paper"


KINDS = {
    "gamma": FigureKind(("epochs",), "γ per epoch", "Figures 1, 4, 6, 14"),
    "stacked": FigureKind(("epochs",), "RSI, EB and γ per epoch", "Figures 2, 7–11"),
    "lolr": FigureKind(("lolr",), "loLR against the lr in force", "Figure 3"),
    "distance": FigureKind(("epochs",), "‖w_t − w*‖ per epoch", "Figures 12, 13"),
    "counterexamples": FigureKind(("steps",), "RSI and γ per step", "Figure 5"),
    "random_walk": FigureKind(("steps",), "γ per step against (T − t)^(−1/2)", "Section 6"),
    "full_batch": FigureKind(("full_batch",), "full-batch against minibatch γ", "beyond the paper"),
    "forks": FigureKind(("forks",), "γ against w* and a fork's w*′", "beyond the paper"),
    "path": FigureKind(("path",), "the straight path to w*", "beyond the paper"),
    "sharpness": FigureKind(("sharpness",), "λ_max of the loss's Hessian against 2/η, and loLR against 2/λ_max",
                            "beyond the paper"),
    "blocks": FigureKind(("blocks",), "γ per parameter block (module) and epoch", "beyond the paper"),
    "update": FigureKind(("epochs",), "γ of the gradient and of the update per epoch", "beyond the paper"),
    "schedules": FigureKind(("history", "epochs"), "lr, validation metric and γ per epoch", "beyond the paper"),
}
# What a study draws when it names no figures.
DEFAULT_FIGURES = ("gamma", "stacked", "lolr", "distance")
# Tables written only for the runs whose studies draw them (or, forks, that declare forks).
OPTIONAL_TABLES = ("full_batch", "path", "forks", "sharpness", "blocks")
# The full-batch gradients taken at each measured epoch start (full_batch.py says how): the clean objective,
# training mode on draws independent of the run's, and training mode on the run's own draws (the
# minibatches that go on to build w*, so it keeps their self-inclusion bias).
FULL_BATCH_MODES = ("eval", "train_independent", "train_own_draws")
# The kinds whose numbers the findings page quotes (nowrongturns/findings.py, rule findings).
FINDINGS = ("full_batch", "forks", "path", "update", "sharpness", "blocks", "schedules")
# The tables every run gets.
RUN_TABLES = ("steps", "epochs", "lolr")


def tables(kind: str) -> tuple[str, ...]:
    return KINDS[kind].tables

"""Decorrelated references: forks of a run, and γ against their endpoints.

w* is the end of the very sequence being measured: d_t = w_t − w* holds the updates after t, G_t's
own among them, which biases γ upward (the random walk shows how much: γ ≈ (T − t)^(−1/2) with no
signal at all). A fork continues the run from epoch at_epoch with another seed (data order,
augmentation, dropout) to the same budget. For t ≥ at_epoch, G_t took no part in building the fork's
endpoint w*′, so γ against w*′ carries none of that bias; the replay measures against both.

γ against w*′ also falls for a reason of geometry alone: late in training w_t is close to w* and
d′_t = w_t − w*′ is mostly w* − w*′. The geometric null says how far: were G_t aligned with d_t as
measured (γ) and otherwise without direction relative to w* − w*′, its expected γ against w*′ would
be γ · cos(d, d′), where cos(d, d′) = (‖d‖² + ‖d′‖² − ‖w* − w*′‖²) / (2‖d‖‖d′‖) follows from the
three distances (the law of cosines). γ against w*′ below that null is alignment with what is
particular to the run's own endpoint (the induced bias among it); at or above it, the drop is geometry.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from nowrongturns.config.settings import RunSettings
from nowrongturns.geometry.metrics import for_target, metrics
from nowrongturns.parallel.device import device_name
from nowrongturns.stats import read_segments
from nowrongturns.storage.files import write_parquet
from nowrongturns.storage.run_lock import exclusive, lock_path
from nowrongturns.train.checkpoints import (
    checkpoint_at_or_before,
    checkpoint_path,
    existing_checkpoints,
    load_checkpoint,
    load_weights,
    on_reference_device,
    save_checkpoint,
    save_weights,
)
from nowrongturns.train.engine import Trainer

log = logging.getLogger("nowrongturns")


def fork_name(budget: int, fork_id: str) -> str:
    """The target name of a fork's endpoint in the replay's tables: <budget>:<fork id>."""
    return f"{budget}:{fork_id}"


def run_fork(settings: RunSettings | dict, run_id: str, fork_id: str, at_epoch: int, seed: int, trunk_id: str,
             trunk_dir, fork_dir, checkpoint_every: int, w_star_path, history_path) -> None:
    """Train the fork: the run's own trajectory up to at_epoch (from the reference checkpoint at or before
    it), then its epochs with `seed`, to the run's budget. fork_dir is laid out as a run's folder: it keeps
    checkpoints every checkpoint_every epochs in reference/checkpoints, so a killed fork resumes bit for bit."""
    run = RunSettings.of(settings)
    with exclusive(lock_path(fork_dir, "fork"), f"fork {fork_id} of run {run_id}"):
        epochs, me = run.epochs, f"{run_id} fork {fork_id}"
        own = {e: p for e, p in existing_checkpoints(fork_dir).items() if at_epoch < e < epochs}
        if own:  # resume the fork itself
            state = load_checkpoint(own[max(own)], me)
            trainer = Trainer(on_reference_device(run, state, run_id), me)
            trainer.load_state(state)
            trainer.reseed(seed)
            log.info("resuming fork %s from its checkpoint of epoch %d", fork_id, trainer.epoch)
        else:
            start = checkpoint_at_or_before(trunk_dir, trunk_id, at_epoch)
            state = load_checkpoint(checkpoint_path(trunk_dir, start), trunk_id)
            trainer = Trainer(on_reference_device(run, state, run_id), me)
            trainer.load_state(state)
            trainer.train(at_epoch)  # the run's own epochs up to the fork
            trainer.reseed(seed)
        log.info("fork %s of %s on %s: seed %d from epoch %d to %d", fork_id, run_id, device_name(trainer.device),
                 seed, at_epoch, epochs)

        def keep(t: Trainer) -> None:
            if t.epoch % checkpoint_every == 0 and t.epoch < epochs:
                save_checkpoint(t, checkpoint_path(fork_dir, t.epoch))

        trainer.train(epochs, evaluate=True, on_epoch_end=keep)
        save_weights(me, epochs, trainer.flat.data, w_star_path)
        history = pd.DataFrame(trainer.history).assign(run_id=run_id, fork=fork_id)
        write_parquet(history[history["epoch"] >= at_epoch], history_path)


def endpoint_distance(w_star_path, fork_w_star_path) -> float:
    """‖w* − w*′‖, summed in float64."""
    return float(torch.linalg.vector_norm(load_weights(w_star_path).double() - load_weights(fork_w_star_path).double()))


def forks_table(run_id: str, segment_paths: list[str], budget: int, forks: list[dict], fork_ids: list[str],
                out_path, w_star_path, fork_w_star_paths: list) -> pd.DataFrame:
    """Per fork and epoch from its at_epoch on: γ against the run's own w* and against the fork's w*′ (mean,
    std, quantiles, fraction negative over the epoch's steps), RSI and loLR against w*′, the geometric null
    for γ against w*′ (γ · cos(d, d′), the module says why) with cos(d, d′) and ‖w* − w*′‖, and the random
    walk's prediction against w*, the mean of (T − t)^(−1/2) over the epoch's steps (T steps in all).
    Against w*′ the random walk predicts 0."""
    raw, _ = read_segments(segment_paths)
    frames = []
    for fork, fid, fork_w_star in zip(forks, fork_ids, fork_w_star_paths, strict=True):
        apart = endpoint_distance(w_star_path, fork_w_star)
        g = fork_steps(raw, budget, fid, fork["at_epoch"], apart).groupby("epoch", sort=True)
        table = g.agg(n_steps=("step", "size"), gamma_own_mean=("gamma_own", "mean"),
                      gamma_fork_mean=("gamma_fork", "mean"), gamma_fork_std=("gamma_fork", "std"),
                      gamma_fork_q05=("gamma_fork", lambda v: v.quantile(0.05)),
                      gamma_fork_q95=("gamma_fork", lambda v: v.quantile(0.95)),
                      frac_gamma_fork_neg=("gamma_fork", lambda v: float((v.dropna() < 0).mean())),
                      rsi_fork_mean=("rsi_fork", "mean"), lolr_fork_median=("lolr_fork", "median"),
                      d_fork_norm_mean=("d_fork_norm", "mean"), d_own_norm_mean=("d_own_norm", "mean"),
                      cos_d_dfork_mean=("cos_d_dfork", "mean"), gamma_fork_null_mean=("gamma_fork_null", "mean"),
                      random_walk_gamma_own=("random_walk_gamma_own", "mean")).reset_index()
        table.insert(0, "w_star_distance", apart)
        table.insert(0, "seed", fork["seed"])
        table.insert(0, "at_epoch", fork["at_epoch"])
        table.insert(0, "fork", fid)
        frames.append(table)
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "run_id", run_id)
    out["final_epoch"] = out["epoch"] == budget - 1
    write_parquet(out, out_path)
    return out


def fork_steps(raw: pd.DataFrame, budget: int, fid: str, at_epoch: int, apart: float = np.nan) -> pd.DataFrame:
    """Per step from at_epoch to the budget's end: γ against the own w* and the fork's w*′, RSI, loLR and ‖d‖
    against w*′, the geometric null γ · cos(d, d′) from the distances (apart: ‖w* − w*′‖), and the random
    walk's γ against its own endpoint, (T − t)^(−1/2)."""
    raw = raw[raw["epoch"] < budget]
    total = budget * int((raw["epoch"] == raw["epoch"].iloc[0]).sum())  # T: budget x steps per epoch
    own, fork = for_target(raw, budget), for_target(raw, fork_name(budget, fid))
    m = metrics(fork["g_dot_d"], fork["g_sq"], fork["d_sq"])
    gamma_own = metrics(own["g_dot_d"], own["g_sq"], own["d_sq"])["gamma"]
    d_sq, d_fork_sq = own["d_sq"].to_numpy(dtype=float), fork["d_sq"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):  # law of cosines in the triangle w_t, w*, w*′
        cos_d = (d_sq + d_fork_sq - apart ** 2) / (2 * np.sqrt(d_sq * d_fork_sq))
    steps = fork["step"].to_numpy()
    per_step = pd.DataFrame({
        "epoch": fork["epoch"].to_numpy(), "step": steps,
        "gamma_own": gamma_own, "d_own_norm": np.sqrt(d_sq), "cos_d_dfork": cos_d,
        "gamma_fork_null": np.asarray(gamma_own) * cos_d,
        "gamma_fork": m["gamma"], "rsi_fork": m["rsi"], "lolr_fork": m["lolr"], "d_fork_norm": m["d_norm"],
        "random_walk_gamma_own": (total - steps) ** -0.5,
    })
    return per_step[per_step["epoch"] >= at_epoch].reset_index(drop=True)


def fork_gamma_steps(segment_paths: list[str], budget: int, fid: str, at_epoch: int) -> np.ndarray:
    """γ against a fork's endpoint at every step from at_epoch on (for checks over many steps)."""
    return fork_steps(read_segments(segment_paths)[0], budget, fid, at_epoch)["gamma_fork"].to_numpy()

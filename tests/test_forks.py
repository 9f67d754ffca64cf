"""Forks: the random walk's closed form (γ against an independent endpoint is 0 in expectation), and a fork is
exactly the run continued with another seed, resumable."""
import logging

import numpy as np
import pandas as pd
import torch

from nowrongturns.forks import fork_gamma_steps, fork_steps, forks_table, run_fork
from nowrongturns.reference import run_reference
from nowrongturns.replay import run_replay
from nowrongturns.train.checkpoints import load_weights
from nowrongturns.train.engine import Trainer


def _reference(s, run):
    ref = run / "reference"
    run_reference(s, "rw", run, 2, ref / "w0.pt", ref / "w_star.pt", ref / "history.parquet")


def _fork(s, run, at, seed, every=2):
    fid = f"at{at}-seed{seed}"
    out = run / "forks" / fid / "reference"
    run_fork(s, "rw", fid, at, seed, "rw", run, run / "forks" / fid, every, out / "w_star.pt", out / "history.parquet")
    return fid, out / "w_star.pt"


def test_random_walk_gamma_against_a_fork_is_zero_in_expectation(tmp_path, make_settings):
    dim, spe = 20_000, 100
    s = make_settings(dataset="none", model="random_walk", width=dim, lr=1.0, steps_per_epoch=spe, epochs=4,
                      device="cpu")
    run = tmp_path / "rw"
    _reference(s, run)
    fid, w_fork = _fork(s, run, 2, 1)
    segment = run / "measure/segment_1.parquet"
    run_replay(s, "rw", run, 1, 2, 4, {4: run / "reference/w_star.pt"}, segment,
               forks={f"4:{fid}": {"path": w_fork, "budget": 4}})
    gamma = fork_gamma_steps([segment], 4, fid, 2)
    n = len(gamma)
    assert n == 2 * spe
    # For t >= 2 epochs, ξ_t is independent of w_t − w*′: γ = cos(ξ_t, w_t − w*′) has mean 0 and std 1/√d.
    assert abs(gamma.mean()) < 4 / np.sqrt(dim * n)
    assert 0.8 < gamma.std() * np.sqrt(dim) < 1.2
    w_star = run / "reference/w_star.pt"
    table = forks_table("rw", [segment], 4, [{"at_epoch": 2, "seed": 1}], [fid], tmp_path / "forks.parquet",
                        w_star, [w_fork])
    assert list(table["epoch"]) == [2, 3] and list(table["n_steps"]) == [spe, spe]
    apart = torch.linalg.vector_norm(load_weights(w_star).double() - load_weights(w_fork).double())
    assert np.allclose(table["w_star_distance"], float(apart), rtol=1e-12)
    # Against its own endpoint the same steps show the induced bias, γ ≈ (T − t)^(−1/2).
    assert np.allclose(table["gamma_own_mean"], table["random_walk_gamma_own"], rtol=0.1)
    assert (table["gamma_own_mean"] > 10 * table["gamma_fork_mean"].abs()).all()


def test_a_fork_is_the_run_continued_with_its_seed_and_resumes_exactly(tmp_path, make_settings, caplog):
    s = make_settings(dataset="none", model="random_walk", width=500, lr=1.0, steps_per_epoch=10, epochs=5,
                      device="cpu")
    run = tmp_path / "rw"
    _reference(s, run)  # checkpoints at epochs 0, 2, 4, 5
    _, w_fork = _fork(s, run, 3, 7, every=1)  # from the checkpoint of epoch 2, seed 0 to epoch 3, then seed 7
    direct = Trainer(s)
    direct.train(3)
    direct.reseed(7)
    direct.train(5)
    assert torch.equal(load_weights(w_fork), direct.flat.data)
    assert not torch.equal(load_weights(w_fork), load_weights(run / "reference/w_star.pt"))
    w_fork.unlink()
    with caplog.at_level(logging.INFO, logger="nowrongturns"):
        _fork(s, run, 3, 7, every=1)
    assert "resuming fork at3-seed7 from its checkpoint of epoch 4" in caplog.text
    assert torch.equal(load_weights(w_fork), direct.flat.data)


def test_a_fork_at_epoch_zero_is_an_independent_run_from_the_same_w0(tmp_path, make_settings):
    s = make_settings(dataset="none", model="random_walk", width=300, lr=1.0, steps_per_epoch=10, epochs=2,
                      device="cpu")
    run = tmp_path / "rw"
    _reference(s, run)
    _, w_fork = _fork(s, run, 0, 3)
    independent = Trainer({**s, "seed": 3})  # w0 of the random walk is 0 whatever the seed
    independent.train(2)
    assert torch.equal(load_weights(w_fork), independent.flat.data)


def test_geometric_null_is_gamma_times_the_cosine_of_the_two_displacements():
    """cos(d, d′) from the three distances is the cosine of the vectors; and a G aligned with d as measured and
    otherwise isotropic has, on average, γ against w*′ = γ · cos(d, d′): the null the figure draws."""
    rng = np.random.default_rng(0)
    dim, steps = 5_000, 400
    w_star, w_fork = rng.normal(size=dim), rng.normal(size=dim)
    rows = []
    for step in range(steps):
        w = w_star + rng.normal(size=dim) * 0.3
        d, d_fork = w - w_star, w - w_fork
        noise = rng.normal(size=dim)
        noise -= (noise @ d) / (d @ d) * d  # isotropic in the complement of d
        g = 0.4 * d / np.linalg.norm(d) + noise / np.linalg.norm(noise)
        rows.append({"epoch": 0, "step": step, "g_sq": g @ g, "g_dot_d@1": g @ d, "d_sq@1": d @ d,
                     "g_dot_d@1:f": g @ d_fork, "d_sq@1:f": d_fork @ d_fork,
                     "cos": (d @ d_fork) / np.linalg.norm(d) / np.linalg.norm(d_fork)})
    raw = pd.DataFrame(rows)
    per_step = fork_steps(raw, 1, "f", 0, float(np.linalg.norm(w_star - w_fork)))
    assert np.allclose(per_step["cos_d_dfork"], raw["cos"], rtol=1e-9, atol=1e-12)
    assert np.allclose(per_step["gamma_fork_null"], per_step["gamma_own"] * raw["cos"], rtol=1e-9, atol=1e-12)
    # The off-d part of G projects on w* − w*′ with std about 1/√dim per step: the mean over steps meets the null.
    gap = (per_step["gamma_fork"] - per_step["gamma_fork_null"]).mean()
    assert abs(gap) < 4 / np.sqrt(dim * steps), gap

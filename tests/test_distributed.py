"""Runs of several data-parallel ranks on CPU (gloo): sharded sums, batch slices, launching and its errors.

The end-to-end runs (torchrun, through the command) are in tests/test_distributed_runs.py; the SLURM one in
tests/test_slurm.py.
"""
import itertools
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from nowrongturns.config.settings import RunSettings
from nowrongturns.geometry.recorder import GeometryRecorder
from nowrongturns.parallel import distributed
from nowrongturns.parallel.launch import RankFailed, check_gpus, failed_rank, failure_report, visible_devices
from nowrongturns.tasks.loaders.seeded import EpochSampler

pytestmark = pytest.mark.distributed
N, STEPS = 10_007, 6  # an odd length: the ranks' slices differ in size


def _gen(key):
    return torch.Generator().manual_seed(key)


def _recorded_sums() -> np.ndarray:
    """The recorder over this rank's slice of a fixed sequence of w and G (every rank sees the same), with two
    targets and weight decay, combined over the ranks (one process: the whole vectors)."""
    w, g = torch.zeros(N), torch.zeros(N)
    part = distributed.shard(N)
    stars = [torch.randn(N, generator=_gen(j))[part].clone() for j in (1, 2)]
    mine = SimpleNamespace(data=w[part], grad=g[part])
    recorder = GeometryRecorder(mine, stars, STEPS, weight_decay=1e-3,
                                combine=lambda a: distributed.sum_over_ranks(a, torch.device("cpu")))
    for k in range(STEPS):
        g.copy_(torch.randn(N, generator=_gen(100 + k)))
        recorder.before_step(k)
        w.add_(0.1 * torch.randn(N, generator=_gen(200 + k)))  # in place: the slices see it
        recorder.after_step(k)
    recorder.record_losses(0, [0.0] * STEPS)
    return recorder.sums()


@pytest.mark.parametrize("ranks", [2, 3])
def test_sharded_sums_equal_one_process_sums_and_repeat_bitwise(ranks):
    single = _recorded_sums()
    first, again = distributed.run_local(_recorded_sums, ranks), distributed.run_local(_recorded_sums, ranks)
    for rank in range(ranks):  # every rank holds the combined sums, the same bits on each, run after run
        assert np.array_equal(first[rank], first[0], equal_nan=True)
        assert np.array_equal(again[rank], first[0], equal_nan=True)
    # Summed in another order than one pass over the whole vectors: equal to float64 rounding.
    np.testing.assert_allclose(first[0], single, rtol=1e-12, atol=1e-9)
    assert not np.isnan(single[:, 1:]).any()  # every column was measured


def _weights_checked(rank_that_differs):
    w = torch.arange(1000, dtype=torch.float32)
    if distributed.group().rank == rank_that_differs:
        w[3] = w[3].nextafter(torch.tensor(10.0))  # one bit
    try:
        distributed.check_same(w, "the weights")
    except RuntimeError as err:
        return str(err)
    return "same"


def test_ranks_with_other_weights_fail_on_every_rank():
    assert distributed.run_local(_weights_checked, 3, None) == {0: "same", 1: "same", 2: "same"}
    failed = distributed.run_local(_weights_checked, 3, 2)
    assert failed == {r: "the weights differ between the ranks: rank 2 holds other values than rank 0 (of 3 ranks)"
                      for r in range(3)}


def test_shards_tile_the_vector_at_aligned_cuts():
    for n, ranks in ((N, 1), (N, 2), (N, 3), (N, 7), (100, 3)):
        parts = [distributed.shard(n, distributed.Group(r, ranks)) for r in range(ranks)]
        assert parts[0].start == 0 and parts[-1].stop == n
        assert all(a.stop == b.start for a, b in itertools.pairwise(parts))
        sizes = [p.stop - p.start for p in parts]
        assert max(sizes) - min(sizes) <= (distributed.ALIGN if n >= distributed.ALIGN * ranks else 1)
        if n >= distributed.ALIGN * ranks:
            assert all(p.start % distributed.ALIGN == 0 for p in parts)


def test_the_ranks_see_the_gpus_the_job_claimed():
    assert visible_devices([1, 3], None) == "1,3"
    assert visible_devices([0, 1], "4,5,6") == "4,5"  # as the job itself was shown them


@pytest.mark.parametrize("ranks", [2, 3])
def test_loader_shards_split_every_batch_with_the_samples_seeds(ranks):
    n, batch = 50, 12
    whole = list(EpochSampler(n, seed=3, epoch=1, start=batch))
    shards = [list(EpochSampler(n, seed=3, epoch=1, start=batch, shard=(r, ranks), batch=batch))
              for r in range(ranks)]
    part = batch // ranks
    assert all(len(s) == len(shards[0]) == (n // batch - 1) * part for s in shards)
    for step in range(n // batch - 1):  # the ranks' parts of each full batch, in rank order, are that batch
        joined = [key for s in shards for key in s[step * part:(step + 1) * part]]
        assert joined == whole[step * batch:(step + 1) * batch]


def test_more_ranks_than_visible_gpus_is_a_start_up_error():
    with pytest.raises(RankFailed, match=r"world_size = 4 asks for a GPU per rank, but this machine sees 2 GPUs"):
        check_gpus(RunSettings.from_dict({"world_size": 4, "device": "cuda"}), visible=2)
    with pytest.raises(RankFailed, match=r"world_size = 2 .* sees 1 GPU\b"):
        check_gpus(RunSettings.from_dict({"world_size": 2, "device": "auto"}), visible=1)
    check_gpus(RunSettings.from_dict({"world_size": 4, "device": "auto"}), visible=0)  # no GPU: CPU ranks under gloo
    check_gpus(RunSettings.from_dict({"world_size": 4, "device": "cpu"}), visible=1)
    check_gpus(RunSettings.from_dict({"world_size": 2, "device": "cuda"}), visible=2)


def test_the_failed_rank_is_named_with_its_log(tmp_path):
    logs = [tmp_path / f"r{r}.log" for r in range(3)]
    logs[0].write_text("x INFO rank 0 of 3\n")
    logs[1].write_text("x INFO rank 1 of 3\nx ERROR RuntimeError: boom\n")
    logs[2].write_text("x INFO rank 2 of 3\nx INFO rank done\n")
    torchrun = "Root Cause (first observed failure):\n[0]:\n  time : x\n  host : vm\n  rank : 1 (local_rank: 1)\n"
    assert failed_rank(torchrun, logs) == 1
    assert failed_rank("srun: error: nwt-2: task 2: Killed\n", logs) == 2
    assert failed_rank("", logs) == 1  # the first log with an error
    logs[1].write_text("x INFO rank 1 of 3\n")
    assert failed_rank("", logs) == 0  # else the first that never said it was done
    report = failure_report(1, torchrun, [str(p) for p in logs])
    assert report.startswith(f"rank 1 of 3 failed (exit status 1); its log {logs[1]} ends:\nx INFO rank 1 of 3")

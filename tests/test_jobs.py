"""The job builder (nowrongturns/config/jobs.py): what a reference or replay job is given, and its errors. That the
command line and the rule write the same segment table is checked end to end in test_pipeline.py."""
import pytest

from nowrongturns.config import ConfigError, load
from nowrongturns.config.jobs import full_batch_job, reference_job, replay_job
from nowrongturns.storage import paths

FORK = {"at_epoch": 1, "seed": 7}


@pytest.fixture(scope="module")
def pipe():
    """A 4-epoch run with a 2-epoch prefix (constant lr), a fork at epoch 1 on both, a segment every 2 epochs."""
    base = {"model": "mlp", "width": 8, "forks": [FORK]}
    return load({"measure": {"checkpoint_every": 2, "full_batch_every": 2},
                 "studies": {"b": {"base": base, "overrides": {"epochs": [2, 4]}}}})


def ids(pipe):
    short, long = (next(r for r in pipe.runs if pipe.runs[r].settings["epochs"] == e) for e in (2, 4))
    return short, long


def w_star(pipe, run_id):
    return paths.w_star(paths.run_dir(pipe.results, run_id))


def test_a_segment_measures_the_budgets_and_forks_that_reach_past_its_start(pipe):
    short, long = ids(pipe)
    first, second = replay_job(pipe, long, 0), replay_job(pipe, long, 1)
    assert (first.start, first.end, second.start, second.end) == (0, 2, 2, 4)
    assert first.targets == {2: w_star(pipe, short), 4: w_star(pipe, long)}
    assert second.targets == {4: w_star(pipe, long)}  # the 2-epoch run has ended when segment 1 starts
    fork = "at1-seed7"
    assert first.forks == {
        f"2:{fork}": {"path": paths.w_star(paths.fork_dir(paths.run_dir(pipe.results, short), fork)), "budget": 2},
        f"4:{fork}": {"path": paths.w_star(paths.fork_dir(paths.run_dir(pipe.results, long), fork)), "budget": 4},
    }
    assert list(second.forks) == [f"4:{fork}"]
    assert first.inputs() == [*first.targets.values(), *(f["path"] for f in first.forks.values())]
    assert "forks" not in first.settings and first.settings["epochs"] == 4
    assert first.out == paths.segment(paths.run_dir(pipe.results, long), 0)


def test_the_full_batch_job_shares_the_replay_jobs_targets(pipe):
    _, long = ids(pipe)
    replay, full = replay_job(pipe, long, 1), full_batch_job(pipe, long, 1)
    assert (full.targets, full.forks, full.bounds, full.every) == (replay.targets, replay.forks, replay.bounds, 2)
    assert full.out == paths.segment(paths.run_dir(pipe.results, long), 1, "full_batch")


def test_the_reference_job_checkpoints_every_budget(pipe):
    short, long = ids(pipe)
    job = reference_job(pipe, long)
    assert job.budgets == [2, 4] and job.checkpoint_every == 2
    assert job.w_star == w_star(pipe, long)
    with pytest.raises(ConfigError, match=f"run {short} is the first 2 epochs of {long}"):
        reference_job(pipe, short)


@pytest.mark.parametrize("segment", [-1, 2, 9])
def test_a_segment_out_of_range_names_the_run_and_its_segments(pipe, segment):
    _, long = ids(pipe)
    with pytest.raises(ConfigError, match=rf"run {long} has segments 0 to 1 \(4 epochs, checkpoint_every 2\), "
                                          rf"not {segment}"):
        replay_job(pipe, long, segment)


def test_an_unknown_run_is_named(pipe):
    with pytest.raises(ConfigError, match="unknown run id 'nope'"):
        replay_job(pipe, "nope", 0)

"""The rules' wiring (nowrongturns/config/wiring.py): what each job reads and asks for, as Snakemake's input, params and
resource functions see it. The dry runs of test_presets.py and test_profiles.py run it inside Snakemake."""
import re
from types import SimpleNamespace as Wildcards

import pytest

from nowrongturns.config import figure_hash, findings_hash, load, load_file
from nowrongturns.config.wiring import StaleFolder, Wiring, one_of
from nowrongturns.storage import paths

from .conftest import ROOT


@pytest.fixture(scope="module")
def budgets():
    """A 4-epoch run with a 2-epoch prefix and a fork, a segment every 2 epochs, threads 2 and a data worker."""
    base = {"model": "mlp", "width": 8, "threads": 2, "forks": [{"at_epoch": 1, "seed": 7}]}
    pipe = load({"measure": {"checkpoint_every": 2}, "resources": {"gpu": 1, "nodes": 2},
                 "studies": {"b": {"base": base, "overrides": {"epochs": [2, 4]}, "figures": ["gamma", "forks"]},
                             "ranks": {"base": {"model": "mlp", "width": 8, "world_size": 2, "threads": 3}}}})
    short, long = (next(r for r in pipe.studies["b"].runs if pipe.runs[r].settings["epochs"] == e) for e in (2, 4))
    (ranked,) = pipe.studies["ranks"].runs
    return Wiring(pipe), short, long, ranked


def test_a_prefix_run_reads_the_segments_of_its_trunk(budgets):
    wiring, short, long, _ = budgets
    trunk_dir = paths.run_dir(wiring.results, long)
    assert wiring.prefixes == [short]
    assert wiring.trunk(Wildcards(run=short)) == long
    assert wiring.trunk_w_star(Wildcards(run=short)) == paths.w_star(trunk_dir)
    assert wiring.segment_files(Wildcards(run=short)) == [paths.segment(trunk_dir, 0)]
    assert wiring.segment_files(Wildcards(run=long)) == [paths.segment(trunk_dir, 0), paths.segment(trunk_dir, 1)]
    assert wiring.full_batch_segment_files(Wildcards(run=short)) == [paths.segment(trunk_dir, 0, "full_batch")]


def test_a_fork_is_found_by_its_id_or_named_as_missing(budgets):
    wiring, _, long, _ = budgets
    assert wiring.fork_ids(Wildcards(run=long)) == ["at1-seed7"]
    assert wiring.fork_of(Wildcards(run=long, fork="at1-seed7")) == {"at_epoch": 1, "seed": 7}
    with pytest.raises(ValueError, match=rf"run {long} declares no fork at2-seed7 \(its forks: \['at1-seed7'\]\)"):
        wiring.fork_of(Wildcards(run=long, fork="at2-seed7"))


def test_only_runs_of_several_ranks_ask_for_tasks_and_nodes(budgets):
    wiring, _, long, ranked = budgets
    resources = wiring.rank_resources()
    one, two = Wildcards(run=long), Wildcards(run=ranked)
    assert {key: value(one) for key, value in resources.items()} == dict.fromkeys(resources)
    assert {key: value(two) for key, value in resources.items()} == {
        "tasks": 2, "mpi": "srun", "nodes": 2, "cpus_per_task": 3, "tasks_per_gpu": 1}
    assert (wiring.threads(one), wiring.gpus(one)) == (2, 1)
    assert (wiring.threads(two), wiring.gpus(two)) == (6, 2)  # each rank's threads and GPU


def test_a_stale_figure_folder_is_named(budgets):
    wiring, *_ = budgets
    study = wiring.pipe.studies["b"]
    current = Wildcards(study="b", fighash=figure_hash(wiring.pipe, study))
    assert wiring.study_of(current) is study
    with pytest.raises(StaleFolder, match="figure folder b-0000000000 is not the current one"):
        wiring.study_of(Wildcards(study="b", fighash="0000000000"))
    tables = wiring.figure_tables("forks")(current)
    assert tables == [paths.table(paths.run_dir(wiring.results, r), "forks") for r in study.runs]


def test_all_outputs_are_every_runs_tables_and_every_studys_figures():
    pipe = load_file(ROOT / "config.yaml")
    wiring = Wiring(pipe)
    outs = wiring.all_outputs()
    assert len(outs) == len(set(outs))
    for run_id in pipe.runs:
        run_dir = paths.run_dir(pipe.results, run_id)
        assert {paths.table(run_dir, "steps"), paths.history(run_dir), paths.drift(run_dir)} <= set(outs)
        assert {paths.table(run_dir, t) for t in pipe.tables.get(run_id, ())} <= set(outs)
    for study in pipe.studies.values():
        fighash = figure_hash(pipe, study)
        assert {paths.figure(pipe.results, study.name, fighash, kind, fmt)
                for kind in study.figures for fmt in pipe.figures["formats"]} <= set(outs)
    # The loLR schedules read their source's loLR table, against its own w* or against its fork (forks table).
    lolr_runs = [r for r in pipe.runs if pipe.runs[r].settings["schedule"] == "lolr"]
    assert len(lolr_runs) == 2
    for lolr_run in lolr_runs:
        settings = pipe.runs[lolr_run].settings
        table = "lolr" if settings["lolr_target"] == "own" else "forks"
        expected = [paths.table(paths.run_dir(pipe.results, settings["lolr_source"]), table)]
        assert wiring.lolr_source_table(Wildcards(run=lolr_run)) == expected
    assert paths.findings(pipe.results, findings_hash(pipe)) in outs


def test_one_of_matches_exactly_the_ids():
    pattern = one_of(["a.b-1", "c"])
    assert re.fullmatch(pattern, "a.b-1") and re.fullmatch(pattern, "c") and not re.fullmatch(pattern, "axb-1")
    assert not re.fullmatch(one_of([]), "")

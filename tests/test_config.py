"""Config validation, grid expansion and content-addressed run names."""
import copy
import json

import pytest
import yaml

from nowrongturns.config import ConfigError, load, load_file, normalize, read_config_file, run_hash
from nowrongturns.config.lolr_source import LOLR_DERIVATION
from nowrongturns.config.runs import identify, label_for

from .conftest import ROOT


def _cfg(**study):
    base = {"studies": {"s": {"base": {"model": "mlp"}, **study}}}
    return base


def test_default_config_expands_to_the_documented_studies():
    pipe = load_file(ROOT / "config.yaml")
    assert set(pipe.studies) == {"optimizers", "seeds", "cnn", "independent", "schedules", "counterexamples",
                                 "random_walk"}
    assert len(pipe.studies["seeds"].runs) == 3
    # The seed-0 momentum run is shared between two studies: one folder, trained once; so is the SGD run.
    shared = set(pipe.studies["seeds"].runs) & set(pipe.studies["optimizers"].runs)
    assert len(shared) == 1
    assert len(set(pipe.studies["schedules"].runs) & set(pipe.studies["optimizers"].runs)) == 1
    assert pipe.studies["independent"].runs == pipe.studies["optimizers"].runs[:1]  # SGD, with its fork at epoch 0
    assert len(pipe.runs) == 13


def test_grid_and_joined_grids():
    pipe = load(_cfg(overrides=[{"optimizer": ["sgd", "momentum"], "lr": [0.1, 0.01]}, {"optimizer": "adam"}]))
    assert len(pipe.studies["s"].runs) == 5


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda c: c.update(bogus=1), ["unknown key", "bogus"]),
        (lambda c: c["studies"]["s"]["base"].update(lr="fast"), ["studies.s.base.lr", "'fast'"]),
        (lambda c: c["studies"]["s"]["base"].update(lr=-1), ["studies.s.base.lr", "-1"]),
        (lambda c: c["studies"]["s"]["base"].update(epochs=0), ["studies.s.base.epochs", "0"]),
        (lambda c: c["studies"]["s"]["base"].update(optimizer="sgdd"), ["optimizer", "'sgdd'"]),
        (lambda c: c["studies"]["s"]["base"].update(model="resnet9000"), ["model", "'resnet9000'"]),
        (lambda c: c["studies"]["s"]["base"].update(dataset="mnist"), ["dataset", "'mnist'"]),
        (lambda c: c["studies"]["s"].update(overrides={"lrr": [1, 2]}), ["unknown key", "lrr"]),
        (lambda c: c["studies"]["s"].update(overrides={"optimizer": ["sgd", "rmsprop"]}), ["optimizer", "rmsprop"]),
        (lambda c: c["studies"]["s"]["base"].update(model="alm"), ["model", "'alm'", "digits"]),
        (lambda c: c.update(measure={"checkpoint_every": 0}), ["measure.checkpoint_every", "0"]),
        (lambda c: c["studies"]["s"].update(compare="colour"), ["compare", "colour"]),
        (lambda c: c["studies"]["s"]["base"].update(gpu_kernels="quick"), ["gpu_kernels", "'quick'"]),
        (lambda c: c["studies"]["s"]["base"].update(gpu_kernels="fast"), ["gpu_kernels", "drift_tolerance"]),
        (lambda c: c["studies"]["s"]["base"].update(epochs=5, forks=[{"at_epoch": 5, "seed": 1}]),
         ["studies.s.base.forks[0].at_epoch = 5", "budget of 5 epochs"]),
        (lambda c: c["studies"]["s"]["base"].update(forks=[{"at_epoch": 1, "seed": 0}]),
         ["studies.s.base.forks[0].seed = 0", "own seed"]),
        (lambda c: c["studies"]["s"]["base"].update(forks=[{"at_epoch": 1}]), ["forks", "'seed' is a required"]),
        (lambda c: c.update(measure={"path_points": 1}), ["measure.path_points = 1", "minimum of 2"]),
        (lambda c: c["studies"]["s"]["base"].update(schedule="lolr"), ["studies.s.base.lolr_from = None"]),
        (lambda c: c["studies"]["s"]["base"].update(schedule="lolr", lolr_from="nope/x"),
         ["studies.s.base.lolr_from = 'nope/x'", "no study 'nope'"]),
        (lambda c: c["studies"]["s"]["base"].update(schedule="lolr", lolr_from="s/lr=1"),
         ["lolr_from = 's/lr=1'", "no run labelled 'lr=1'"]),
        (lambda c: c["studies"]["s"]["base"].update(optimizer="adam", schedule="lolr", lolr_from="s/x"),
         ["studies.s.base.schedule = 'lolr'", "adam", "sgd, momentum or nesterov"]),
        (lambda c: c["studies"]["s"].update(figures=["forks"]), ["studies.s.figures", "forks", "does not declare"]),
    ],
)
def test_bad_config_names_key_and_value(mutate, words):
    cfg = _cfg()
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        load(cfg)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_missing_config_file_names_path(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_file(tmp_path / "nope.yaml")


def test_hash_ignores_unused_settings_and_number_spelling():
    pipe = load(_cfg(overrides={"optimizer": "adam", "momentum": [0.5, 0.9], "lr": [1, 1.0]}))
    assert len(pipe.studies["s"].runs) == 1  # momentum is unused by Adam; 1 == 1.0
    a = load(_cfg(overrides={"optimizer": "momentum", "momentum": [0.5, 0.9]}))
    assert len(a.studies["s"].runs) == 2


def test_run_id_is_stable_and_readable():
    pipe = load(_cfg())
    (run_id,) = pipe.runs
    assert run_id.startswith("digits-mlp-sgd-lr0.05-bs64-e20-s0-")
    assert run_id.endswith(run_hash(pipe.runs[run_id].settings))
    assert load(copy.deepcopy(_cfg())).runs.keys() == pipe.runs.keys()


def test_defaults_apply_to_every_study():
    cfg = _cfg()
    cfg["defaults"] = {"epochs": 3}
    pipe = load(cfg)
    assert all(r.settings["epochs"] == 3 for r in pipe.runs.values())


def test_every_schema_key_is_documented_in_default_config():
    from nowrongturns.config import schema

    text = (ROOT / "config.yaml").read_text()
    documented = yaml.safe_load(text)["defaults"]
    assert set(documented) == set(schema()["$defs"]["run"]["properties"])


def test_gpu_kernels_policy_names_runs_only_where_it_changes_them():
    # The deterministic default leaves run names as they were; fast on a GPU is another trajectory;
    # CPU runs are deterministic whatever the policy says.
    def run_id(**base):
        cfg = _cfg()
        cfg["studies"]["s"]["base"].update(base)
        cfg["measure"] = {"drift_tolerance": 1e-3}
        return next(iter(load(cfg).runs))

    assert run_id() == run_id(gpu_kernels="deterministic")
    assert run_id(gpu_kernels="fast") != run_id()
    assert run_id(device="cpu", gpu_kernels="fast") == run_id(device="cpu")


def test_integral_float_for_an_integer_key_is_that_integer():
    # JSON Schema counts 1.0 as an integer; seeding hashes the value, so 1.0 must become 1.
    as_int = load(_cfg(overrides={"seed": 1, "epochs": 6}))
    as_float = load(_cfg(overrides={"seed": 1.0, "epochs": 6.0}))
    assert as_float.runs.keys() == as_int.runs.keys()
    (run,) = as_float.runs.values()
    assert type(run.settings["seed"]) is int and type(run.settings["epochs"]) is int
    assert len(as_float.segments(run.run_id)) == 1  # epochs 6.0 is the integer 6 that range() takes
    assert type(load({**_cfg(), "measure": {"checkpoint_every": 2.0}}).measure["checkpoint_every"]) is int
    with pytest.raises(ConfigError, match=r"studies.s.*seed = 1.5"):
        load(_cfg(overrides={"seed": 1.5}))


@pytest.mark.parametrize("key, value", [("lr", float("nan")), ("lr", float("inf")), ("weight_decay", float("inf")),
                                        ("grad_clip", float("nan"))])
def test_non_finite_numbers_are_refused(key, value):
    with pytest.raises(ConfigError) as err:
        load(_cfg(overrides={key: value}))
    assert f".{key} = {value!r}: not a finite number" in str(err.value)
    with pytest.raises(ConfigError, match=r"measure.drift_tolerance = nan: not a finite number"):
        load({**_cfg(), "measure": {"drift_tolerance": float("nan")}})


@pytest.mark.parametrize("lr", [1e6, 1e-07, 2.5e-12, 123456789.0, 0.05])
def test_run_names_are_safe_for_every_number(lr):
    import re

    from nowrongturns.config import RUN_ID_PATTERN

    (run_id,) = load(_cfg(overrides={"lr": lr})).runs
    assert re.fullmatch(RUN_ID_PATTERN, run_id), run_id
    assert "+" not in run_id


def test_braces_in_the_results_folder_are_refused():
    with pytest.raises(ConfigError, match=r"config key results = 'out/\{run\}': braces"):
        load({**_cfg(), "results": "out/{run}"})


def test_malformed_config_names_file_and_line(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("studies:\n  s:\n    base: {model: mlp\n  t: 3\n")
    with pytest.raises(ConfigError, match=r"config.yaml, line 4, column 4: not valid YAML.*line 3, column 11"):
        load_file(path)


def test_snakemake_names_the_line_and_plans_any_valid_number(tmp_path):
    from .workflow import snakemake

    (tmp_path / "config.yaml").write_text("studies:\n  s:\n\tbase: {}\n")
    proc = snakemake(tmp_path, "--dry-run", check=False)
    assert proc.returncode != 0 and "config.yaml, line 3, column 1: not valid YAML" in proc.stdout + proc.stderr
    cfg = _cfg(overrides={"lr": [1e6, 1e-07]}, figures=["gamma"])
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, "--dry-run")  # lr1e+06 once matched no rule (MissingInputException)
    assert "lr1e06" in proc.stdout and "lr1e-07" in proc.stdout


def _two_studies(follower: dict, source: dict | None = None) -> dict:
    return {"studies": {
        "src": {"base": {"model": "mlp", "optimizer": "sgd", "lr": 0.05, **(source or {})}, "compare": "optimizer"},
        "follow": {"base": {"model": "mlp", "optimizer": "sgd", "schedule": "lolr", "lolr_from": "src/optimizer=sgd",
                            **follower}}}}


def test_a_lolr_schedule_is_named_by_its_source():
    pipe = load(_two_studies({"lolr_scale": 0.01}))
    (source,), (follower,) = pipe.studies["src"].runs, pipe.studies["follow"].runs
    settings = pipe.runs[follower].settings
    assert settings["lolr_source"] == source and "lr" not in settings and "lolr_from" not in settings
    assert settings["lolr_path"] == f"results/runs/{source}/lolr.parquet"
    assert "-lolr0.01-" in follower
    # Another source (its lr) is another run; `lr` of the follower itself is unused.
    other = load(_two_studies({"lolr_scale": 0.01}, {"lr": 0.1}))
    assert other.studies["follow"].runs != [follower]
    assert load(_two_studies({"lolr_scale": 0.01, "lr": 9.0})).studies["follow"].runs == [follower]
    # How the lr is derived joins the name: a new method names new runs instead of reusing stale ones.
    assert settings["lolr_derivation"] == LOLR_DERIVATION
    assert follower != identify(normalize({**settings, "lolr_derivation": "epoch-median/v1"})).run_id
    # Against a fork at epoch 0 of the source: its forks table, and another run with a legend of its own.
    forked = load(_two_studies({"lolr_scale": 0.01, "lolr_target": "at0-seed1"},
                               {"forks": [{"at_epoch": 0, "seed": 1}]}))
    (fork_follower,) = forked.studies["follow"].runs
    assert forked.runs[fork_follower].settings["lolr_path"] == f"results/runs/{source}/forks.parquet"
    assert fork_follower != follower
    assert label_for(forked.runs[fork_follower].settings, "schedule", {}) == "schedule=lolr/at0-seed1"
    ambiguous = _two_studies({})
    ambiguous["studies"]["src"]["overrides"] = {"lr": [0.05, 0.1]}  # both labelled optimizer=sgd
    with pytest.raises(ConfigError, match="2 runs of study 'src' have that label"):
        load(ambiguous)


@pytest.mark.parametrize("follower, source, words", [
    ({"dataset": "gaussian_regression", "model": "alm"}, {}, ["that run is on dataset 'digits'", "'gaussian_regression'"]),
    ({"epochs": 30}, {}, ["that run has 20 epochs of loLR, this one needs 30"]),
    ({"lr_scaling": "sqrt_batch"}, {}, ["studies.follow.base.lr_scaling = 'sqrt_batch'"]),
    ({"lolr_target": "at0-seed1"}, {"forks": [{"at_epoch": 2, "seed": 1}]},
     ["studies.follow.base.lolr_target = 'at0-seed1'", "declares no such fork (its forks: ['at2-seed1'])"]),
])
def test_a_lolr_source_must_fit(follower, source, words):
    with pytest.raises(ConfigError) as err:
        load(_two_studies(follower, source))
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_forks_are_measurement_not_trajectory():
    plain = load(_cfg())
    forked = load(_cfg(base={"model": "mlp", "forks": [{"at_epoch": 3, "seed": 2}, {"at_epoch": 0, "seed": 1}]},
                       figures=["gamma", "forks"]))
    assert plain.runs.keys() == forked.runs.keys()  # a fork does not rename the run it forks
    (run,) = forked.runs.values()
    assert run.settings["forks"] == [{"at_epoch": 0, "seed": 1}, {"at_epoch": 3, "seed": 2}]
    assert forked.tables[run.run_id] == {"forks"}
    # One run in two studies: its forks are all those declared.
    both = _cfg(base={"model": "mlp", "forks": [{"at_epoch": 3, "seed": 2}]})
    both["studies"]["t"] = {"base": {"model": "mlp", "forks": [{"at_epoch": 1, "seed": 4}]}}
    (run,) = load(both).runs.values()
    assert run.settings["forks"] == [{"at_epoch": 1, "seed": 4}, {"at_epoch": 3, "seed": 2}]
    with pytest.raises(ConfigError, match=r"full_batch needs a full-batch loss, which run .* \(random_walk\)"):
        load(_cfg(base={"dataset": "none", "model": "random_walk"}, figures=["full_batch"]))


def test_the_schema_lists_are_the_codes():
    """The schema's enums and defaults that the code also lists are filled from the code (one source):
    data sets and models from the registry, figure kinds from figure_kinds, override keys from the run's."""
    from nowrongturns.config import figure_kinds, registry, schema

    full = schema()
    run = full["$defs"]["run"]["properties"]
    assert run["dataset"]["enum"] == list(registry.DATASETS)
    models, *zoo_patterns = run["model"]["anyOf"]
    assert models["enum"] + [p["description"] for p in zoo_patterns] == [
        m if m not in registry.ZOOS else f"{m}:<name>" for m in registry.MODELS]
    figures = full["$defs"]["study"]["properties"]["figures"]
    assert figures["items"]["enum"] == list(figure_kinds.KINDS)
    assert figures["default"] == list(figure_kinds.DEFAULT_FIGURES)
    lists = {"forks", "image_mean", "image_std"}  # a list in an override is a grid axis: set these in a base
    assert full["$defs"]["override"]["propertyNames"]["enum"] == [k for k in run if k not in lists]
    # The schema file keeps no copy of its own to drift from the code's.
    raw = yaml.safe_load((ROOT / "nowrongturns/config/schemas/config.schema.yaml").read_text())["$defs"]
    assert "enum" not in raw["run"]["properties"]["dataset"] and "anyOf" not in raw["run"]["properties"]["model"]
    assert "enum" not in raw["study"]["properties"]["figures"]["items"]
    assert "propertyNames" not in raw["override"]


def test_every_registry_row_is_complete():
    from nowrongturns.config import registry
    from nowrongturns.tasks.base import Task
    from nowrongturns.tasks.plugin import load_task_class

    assert {m for d in registry.DATASETS.values() for m in d.tasks} == set(registry.MODELS)
    for name, dataset in registry.DATASETS.items():
        for model, task in dataset.tasks.items():
            if name == "plugin":  # the class comes from the run's task setting, through the loader
                assert registry.load_object(task) is load_task_class
                continue
            assert issubclass(registry.load_object(task), Task), (name, model)
        assert (dataset.files is None) == (dataset.check is None), name
        if dataset.check:
            assert callable(registry.load_object(dataset.check)), name
    run_keys = set(_schema_run_keys())
    assert registry.SPECIFIC_KEYS <= run_keys


def _schema_run_keys():
    from nowrongturns.config import schema

    return schema()["$defs"]["run"]["properties"]


def test_overrides_take_every_run_setting():
    cfg = _cfg(overrides={"device": "cuda", "gpu_kernels": ["deterministic", "fast"]})
    cfg["measure"] = {"drift_tolerance": 1e-3}
    assert len(load(cfg).runs) == 2  # overrides take gpu_kernels, as `base` does
    with pytest.raises(ConfigError, match="unknown key 'forks' in studies.s.overrides"):
        load(_cfg(overrides={"forks": [{"at_epoch": 1, "seed": 1}]}))


# The run ids of the default study, the reduced one and every preset (data folders unread: their fingerprint
# is 'unread'), recorded before a refactoring. A change meant to rename runs rewrites the file and says why.
RUN_IDS = json.loads((ROOT / "tests/data/run_ids.json").read_text())


@pytest.mark.parametrize("path", sorted(RUN_IDS))
def test_run_ids_stay_as_they_were(path):
    """Run folders are named by content: a refactoring must not rename them (their results would be recomputed)."""
    assert sorted(load(read_config_file(ROOT / path), read_data=False).runs) == RUN_IDS[path]


# Where .test/config.yaml (the reduced default study) may differ from config.yaml.
REDUCED = {
    ("defaults", "epochs"),
    ("measure", "checkpoint_every"),
    ("measure", "path_from"),
    ("figures", "dpi"),
    ("studies", "cnn", "description"),  # its fork and path epoch
    ("studies", "cnn", "base", "forks"),
    *(("studies", "random_walk", "base", key) for key in ("width", "steps_per_epoch")),
}


def _leaves(tree, path=()):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, (*path, key))
    else:
        yield path, tree


def test_the_test_study_is_the_default_study_reduced():
    from nowrongturns.config import DEFAULT_CONTAINER, run_defaults
    from nowrongturns.config.schema import section_defaults

    from .workflow import TEST_STUDY

    def complete(cfg):  # the keys a config leaves out, with the values they take
        sections = {name: section_defaults(name, cfg.get(name)) for name in ("measure", "figures", "resources")}
        return {"results": "results", "container": DEFAULT_CONTAINER, **cfg, **sections,
                "defaults": {**run_defaults(), **cfg.get("defaults", {})}}

    full = dict(_leaves(complete(yaml.safe_load((ROOT / "config.yaml").read_text()))))
    reduced = dict(_leaves(complete(yaml.safe_load(TEST_STUDY.read_text()))))
    assert full.keys() == reduced.keys(), sorted(full.keys() ^ reduced.keys())
    assert {key for key in full if full[key] != reduced[key]} == REDUCED


def test_run_names_carry_the_lr_in_force():
    cfg = _cfg(overrides={"batch_size": [32, 256], "lr_scaling": "sqrt_batch", "lr": 0.1})
    small, large = load(cfg).runs  # 0.1 × √(32/64), 0.1 × √(256/64)
    assert small.startswith("digits-mlp-sgd-lr0.0707107-bs32-") and large.startswith("digits-mlp-sgd-lr0.2-bs256-")


def test_world_size_names_runs_only_above_one():
    (one,) = load(_cfg(overrides={"world_size": 1})).runs
    (default,) = load(_cfg()).runs
    (two,) = load(_cfg(overrides={"world_size": 2})).runs
    assert one == default and "-ws" not in one  # runs from before ranks existed keep their names
    assert "-e20-s0-ws2-" in two and two.rsplit("-", 1)[1] != one.rsplit("-", 1)[1]


@pytest.mark.parametrize("base, message", [
    ({"world_size": 3}, r"studies.s.base.world_size = 3 does not divide batch_size = 64"),
    ({"world_size": 2, "dataset": "none", "model": "sinusoidal_mixture"},
     r"world_size = 2: model 'sinusoidal_mixture' has no minibatch to split"),
    ({"world_size": 2, "forks": [{"at_epoch": 1, "seed": 1}]}, r"forks: a run with world_size = 2 cannot fork"),
])
def test_world_size_start_up_errors_name_the_values(base, message):
    with pytest.raises(ConfigError, match=message):
        load({"studies": {"s": {"base": {"model": "mlp", **base}}}})


def test_figures_measured_in_one_process_refuse_runs_of_several_ranks():
    with pytest.raises(ConfigError, match=r"figures: full_batch is measured in one process.*world_size = 2"):
        load(_cfg(overrides={"world_size": 2}, figures=["gamma", "full_batch"]))

"""RunSettings: one field per run setting, defaults from the schema file, no unknown keys, frozen."""
import dataclasses

import pytest
import yaml

from nowrongturns.config import load_file, normalize, run_defaults
from nowrongturns.config.jobs import job_settings
from nowrongturns.config.settings import RunSettings

from .conftest import ROOT

# Keys a run's settings dict holds beyond the schema's run settings: the config (pipeline.py) adds data_fingerprint (the content
# of data_dir), lolr_source and lolr_path (the run a lolr schedule follows and its table); a job's Trainer adds
# lolr_values (lolr_schedule.with_schedule, the lr of each epoch read from that table).
DERIVED_KEYS = {"task_class", "task_digest", "init_digest", "data_fingerprint", "tokenizer_fingerprint", "lolr_source",
                "lolr_path", "lolr_derivation", "lolr_values", "data_cache"}


def schema_run_properties() -> dict:
    schema = yaml.safe_load((ROOT / "nowrongturns/config/schemas/config.schema.yaml").read_text(encoding="utf-8"))
    return schema["$defs"]["run"]["properties"]


def test_the_fields_are_the_schema_run_settings_and_the_derived_keys():
    names = [f.name for f in dataclasses.fields(RunSettings)]
    assert len(names) == len(set(names))
    assert set(names) == set(schema_run_properties()) | DERIVED_KEYS


def test_a_key_the_run_dropped_takes_the_schema_default():
    props = schema_run_properties()
    kept = normalize({**run_defaults(), "optimizer": "adam", "momentum": 0.5})  # adam drops momentum
    assert "momentum" not in kept and "world_size" not in kept  # world_size 1 is dropped too
    run = RunSettings.from_dict(kept)
    assert run.momentum == props["momentum"]["default"] and run.world_size == props["world_size"]["default"]
    assert run.optimizer == "adam" and run.lolr_values is None


def test_an_unknown_key_is_an_error_naming_it():
    with pytest.raises(ValueError, match="unknown run setting 'learning_rate'"):
        RunSettings.from_dict({**run_defaults(), "learning_rate": 0.1})


def test_it_is_frozen():
    run = RunSettings.from_dict(run_defaults())
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.lr = 1.0


def test_every_run_of_the_default_study_and_its_jobs_convert_and_round_trip():
    """The dicts the config and jobs.py hand on (lolr sources, forks, runtime keys) are all RunSettings."""
    for run in load_file(ROOT / "config.yaml").runs.values():
        typed = RunSettings.from_dict(job_settings(run.settings))
        assert RunSettings.from_dict(typed.to_dict()) == typed
        assert run.typed.forks == tuple(run.settings.get("forks", ()))

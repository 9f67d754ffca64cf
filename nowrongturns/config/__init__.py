"""The study a config describes, read without torch: the Snakefile loads it on every invocation, and a
no-op rerun must stay fast. Snakemake and the CLI import what they need from here.

  errors        ConfigError, which names the key and value at fault
  schema        the JSON schema, completed from the registry and figure kinds; validation; defaults
  yaml_file     reading a config file, syntax errors with line and column
  runs          a run's settings → its normalised form and content-addressed id; one run's checks
  fork_specs    forks as declared; lolr_source: the run a lolr schedule follows
  data_folders  data folders fingerprinted and checked against their loader's layout
  pipeline      load(): studies → runs, shared prefixes, segments
  output_names  folder and table names of the report, by content
  registry, figure_kinds, describe, data_layout, layouts   what the config may name, and how it reads
  jobs, wiring  what each job is given; the rules' wiring (settings, paths, resources)
"""
from nowrongturns.config.errors import ConfigError
from nowrongturns.config.fork_specs import fork_id
from nowrongturns.config.output_names import (
    figure_hash,
    findings_hash,
    overview_hash,
    overview_studies,
    runs_hash,
    table_hash,
)
from nowrongturns.config.pipeline import (
    DEFAULT_CONTAINER,
    Pipeline,
    Study,
    load,
    load_file,
    runtime_settings,
    segment_bounds,
)
from nowrongturns.config.runs import (
    MEASUREMENT_KEYS,
    RUN_ID_PATTERN,
    RUNTIME_KEYS,
    Run,
    normalize,
    readable_name,
    run_hash,
    trajectory_settings,
)
from nowrongturns.config.schema import run_defaults, schema
from nowrongturns.config.yaml_file import read_config_file

__all__ = [
    "DEFAULT_CONTAINER", "MEASUREMENT_KEYS", "RUNTIME_KEYS", "RUN_ID_PATTERN", "ConfigError", "Pipeline", "Run",
    "Study", "figure_hash", "findings_hash", "fork_id", "load", "load_file", "normalize", "overview_hash", "overview_studies",
    "read_config_file", "readable_name", "run_defaults", "run_hash", "runs_hash", "runtime_settings", "schema",
    "segment_bounds", "table_hash", "trajectory_settings",
]

"""A run's settings as one typed, frozen object, built once from the settings dict the config produces.

The config (runs.py, pipeline.py) validates, normalises and hashes runs as plain dicts (a run's id is the hash of that dict); it
drops the settings a run cannot use (runs._ONLY_FOR, registry.uses). Everything downstream reads a
RunSettings instead: every setting is an attribute, a dropped one holding the schema's default, so no
reader repeats a default of its own. Torch-free: the Snakefile imports it at planning time.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache

from nowrongturns.config.schema import run_defaults


@dataclass(frozen=True)
class RunSettings:
    # -- the schema's run settings ($defs/run of config/schemas/config.schema.yaml), in its order ----------
    task: str | None  # a plug-in task, file.py:Class or module:Class (then dataset and model are "plugin")
    task_args: dict  # its own settings, checked against its Args dataclass
    init_from: str | None  # weights to start from (train/pretrained.py)
    init_prefix_map: dict  # renames of the file's keys, by prefix (to None: dropped)
    dataset: str
    data_dir: str | None
    data_path: str  # device or loader
    num_workers: int
    eval_batch_size: int
    dataset_size: int
    model: str  # a MODELS row, or <zoo>:<name> (registry.ZOOS)
    model_args: dict  # a zoo model's constructor arguments
    width_multiplier: float
    crop_size: int
    block_size: int  # text
    tokenizer: str | None  # text: a tokenizer folder; None: the word vocabulary
    text_column: str  # text
    image_size: int  # image_folder
    image_mean: tuple[float, ...] | None  # image_folder; None: computed from the training images
    image_std: tuple[float, ...] | None
    emsize: int
    nhead: int
    nhid: int
    nlayers: int
    bptt: int
    patch_size: int
    patches_per_epoch: int
    val_patches: int
    width: int
    depth: int
    dropout: float
    augment: bool
    optimizer: str  # sgd, momentum, nesterov, adam or adamw
    lr: float
    momentum: float
    beta1: float
    beta2: float
    weight_decay: float
    grad_clip: float | None
    schedule: str  # constant, cosine, step, wsd or lolr
    lolr_from: str | None
    lolr_scale: float
    lolr_smoothing: int
    lolr_target: str  # own, or a fork id at0-seed<S> of the source
    forks: tuple[dict, ...]  # {"at_epoch", "seed"} each, sorted (fork_specs.check_forks)
    lr_scaling: str  # none or sqrt_batch
    final_low_lr_epoch: bool
    warmup_epochs: int
    step_epochs: int
    step_gamma: float
    warmup_steps: int  # wsd
    decay_fraction: float  # wsd
    decay_shape: str  # wsd: linear, cosine or sqrt
    batch_size: int
    steps_per_epoch: int
    epochs: int
    seed: int
    init_scale: float
    device: str  # auto, cpu or cuda
    gpu_kernels: str  # deterministic or fast
    precision: str  # float32 or float64
    threads: int
    world_size: int
    # -- derived, not in the schema: pipeline.py adds all but the last, lolr_schedule.with_schedule the last ------
    task_class: str | None = None  # a plug-in task: its class name
    task_digest: str | None = None  # a plug-in task: the digest of the file that defines it (config/plugin_source.py)
    init_digest: str | None = None  # init_from: the digest of the weights file (config/pretrained_file.py)
    data_fingerprint: str | None = None  # the content of data_dir, for data sets read from a folder
    tokenizer_fingerprint: str | None = None  # the content of the tokenizer folder
    data_cache: str | None = None  # where data decoded once per fingerprint is kept (results/.cache/data)
    lolr_source: str | None = None  # schedule lolr: the run id of the run it follows
    lolr_path: str | None = None  # schedule lolr: that run's loLR table
    lolr_derivation: str | None = None  # schedule lolr: how the lr is derived from the source's table (its version)
    lolr_values: tuple[float, ...] | None = None  # schedule lolr: the lr of each epoch, once a job has read them

    @classmethod
    def from_dict(cls, settings: dict) -> RunSettings:
        """From a run's settings dict (the config's, or a job's): a key it lacks (dropped as unused by the run)
        takes the schema's default. An unknown key is an error: it would otherwise be silently ignored."""
        unknown = sorted(set(settings) - set(field_names()))
        if unknown:
            raise ValueError(f"unknown run setting {', '.join(map(repr, unknown))}: RunSettings has no such field "
                           f"(schema $defs/run, or a derived key of nowrongturns/config/settings.py)")
        values = {**run_defaults(), **settings}
        # Lists become tuples: a frozen object should not hand out a list its readers could change.
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    @classmethod
    def of(cls, settings: RunSettings | dict) -> RunSettings:
        """The entry of every pass: callers (scripts/, tests, benchmarks) give a dict, or a RunSettings."""
        return settings if isinstance(settings, cls) else cls.from_dict(settings)

    def to_dict(self) -> dict:
        """Every field, as plain values: what a rank's JSON spec and a checkpoint hold."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}


@cache
def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(RunSettings))

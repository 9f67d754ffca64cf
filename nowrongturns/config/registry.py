"""Every data set and model the pipeline knows, one row each. Torch-free: config validation reads it
on every Snakemake start; build_task imports a row's task only when a job trains it.

Adding a data set is a loader (nowrongturns/tasks/loaders/), a task (a Task subclass) and one DATASETS row;
a model for an existing data set is its module (nowrongturns/tasks/architectures/), a MODELS row and its name
in the data set's `tasks`. The schema's dataset and model enums are filled from here (config.schema).

A model zoo (ZOOS) is one row for every model it has: `model: timm:<name>` is the row "timm", and the
data sets that take the zoo's models name "timm" in their `tasks`. Its extra (pip install nowrongturns[timm])
is checked before any job, without importing it.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nowrongturns.config.settings import RunSettings


@dataclass(frozen=True)
class Dataset:
    tasks: dict[str, str]  # compatible model -> its task, "module:Class"
    keys: tuple[str, ...] = ()  # run settings only this data set uses (others drop them before hashing)
    files: str | None = None  # what data_dir must hold; None: generated in memory, no data_dir
    check: str | None = None  # "module:function" checking a folder's file list at start-up (data_layout)
    about: str = ""
    keeps_decoded: bool = False  # its task keeps the decoded data in the run setting data_cache (decoded_cache.py)


@dataclass(frozen=True)
class Model:
    keys: tuple[str, ...] = ()  # run settings only this model uses
    widths: tuple[float, ...] = ()  # the width_multiplier values it takes (none: it has no multiplier)
    full_batch: bool = True  # has a full-batch loss to take a gradient of (figures full_batch and path)
    about: str = ""


@dataclass(frozen=True)
class Zoo:
    module: str  # what `import` needs: its absence is an error before any job
    extra: str  # the pip extra that installs it
    check: str  # the module whose verdict() checks a model name and its model_args (config/run_checks.py)
    name: str  # what may follow "<zoo>:", a regular expression


_DIGITS = "nowrongturns.tasks.builtin:DigitsTask"
_PAPER = "nowrongturns.tasks.paper"
_BATCHED = ("batch_size",)
PLUGIN = "nowrongturns.tasks.plugin:load_task_class"  # the class comes from the run's task setting
PLUGIN_KEYS = ("task", "task_args")  # (task_class and task_digest, derived, only plug-in runs have)

DATASETS = {
    "digits": Dataset({"mlp": _DIGITS, "cnn": _DIGITS}, (*_BATCHED, "augment"),
                      about="scikit-learn's 8x8 handwritten digits (offline)"),
    "gaussian_regression": Dataset({"alm": "nowrongturns.tasks.builtin:ALMTask"}, (*_BATCHED, "dataset_size"),
                                   about="x, y ~ N(0, 1): the ALM counterexample's data"),
    "none": Dataset({"sinusoidal_mixture": "nowrongturns.tasks.builtin:SinusoidalMixtureTask",
                     "random_walk": "nowrongturns.tasks.builtin:RandomWalkTask"}, ("steps_per_epoch",),
                    about="objectives without data"),
    "cifar10": Dataset({"cifar_resnet18": f"{_PAPER}:CIFAR10Task", "medium_mlp": f"{_PAPER}:CIFAR10Task"}, _BATCHED,
                       files="cifar-10-batches-py/ (official pickles) or train/<class>/*.png, test/<class>/",
                       check="nowrongturns.config.data_layout:check_cifar10", about="CIFAR-10"),
    "imagenet": Dataset({m: f"{_PAPER}:ImageNetTask" for m in ("resnet18", "resnet50", "resnet152", "timm")},
                        (*_BATCHED, "crop_size"), files="train/<wnid>/*.JPEG, val/<wnid>/*.JPEG",
                        check="nowrongturns.config.data_layout:check_imagenet", about="ImageNet-1K"),
    "wikitext2": Dataset({"transformer_lm": f"{_PAPER}:LanguageModelTask"}, _BATCHED,
                         files="wiki.{train,valid,test}.tokens (or ptb.*.txt, *.txt)",
                         check="nowrongturns.config.data_layout:check_text", about="WikiText-2"),
    "ptb": Dataset({"transformer_lm": f"{_PAPER}:LanguageModelTask"}, _BATCHED,
                   files="ptb.{train,valid,test}.txt (or wiki.*.tokens, *.txt)",
                   check="nowrongturns.config.data_layout:check_text", about="Penn Treebank"),
    "vaihingen": Dataset({"unet": f"{_PAPER}:SegmentationTask", "segnet": f"{_PAPER}:SegmentationTask"},
                         (*_BATCHED, "patch_size", "patches_per_epoch", "val_patches"),
                         files="top/top_mosaic_09cm_area<N>.tif and ground truth",
                         check="nowrongturns.config.data_layout:check_vaihingen", about="ISPRS Vaihingen"),
    "image_folder": Dataset({"timm": "nowrongturns.tasks.image_folder:ImageFolderTask"},
                            (*_BATCHED, "augment", "image_size", "image_mean", "image_std"),
                            files="train/<class>/*.png|jpg|jpeg and val/<class>/..., the same classes",
                            check="nowrongturns.config.data_layout:check_image_folder",
                            about="your images in torchvision's ImageFolder layout", keeps_decoded=True),
    "text": Dataset({"hf": "nowrongturns.tasks.causal_lm:CausalLMTask"},
                    (*_BATCHED, "block_size", "tokenizer", "text_column"),
                    files="train and validation splits: {train,validation}.{txt,parquet,json,jsonl}, a save_to_disk "
                          "folder (dataset_dict.json), or wiki.{train,valid,test}.tokens",
                    check="nowrongturns.config.data_layout:check_text_corpus",
                    about="your text, for a causal language model", keeps_decoded=True),
    # A plug-in task (run setting task) brings its own data and model: the config sets both to "plugin".
    "plugin": Dataset({"plugin": PLUGIN}, (*_BATCHED, *PLUGIN_KEYS),
                      about="a plug-in task's own data (run setting task)"),
}

_MULTIPLIED = ("width_multiplier",)
_RESNET = Model(_MULTIPLIED, (0.5, 1, 2))
MODELS = {
    "mlp": Model(("width", "depth", "dropout"), about="fully connected, ReLU"),
    "cnn": Model(("width", "depth", "dropout"), about="small CNN with BatchNorm"),
    "alm": Model(("width", "init_scale"), about="the ALM counterexample"),
    "sinusoidal_mixture": Model(("width", "init_scale"), about="the SM counterexample"),
    # Its "gradient" is pure noise: there is no loss whose full-batch gradient it samples.
    "random_walk": Model(("width",), full_batch=False, about="isotropic random walk, the null model"),
    "cifar_resnet18": Model(_MULTIPLIED, (1, 2), about="ResNet-18 for 32x32 images"),
    "medium_mlp": Model(("width",), about="the paper's Medium-MLP"),
    "resnet18": _RESNET,
    "resnet50": _RESNET,
    "resnet152": _RESNET,
    "transformer_lm": Model(("dropout", "emsize", "nhead", "nhid", "nlayers", "bptt"),
                            about="the PyTorch word-language-model Transformer"),
    "unet": Model(about="UNet"),
    "segnet": Model(_MULTIPLIED, (0.5, 1, 2), about="SegNet"),
    "plugin": Model(about="a plug-in task's own model (run setting task)"),
    "timm": Model(("model_args",), about="any timm architecture, by name (model: timm:<name>)"),
    "hf": Model(("model_args",), about="a causal language model from a transformers config (model: hf:<model type> "
                                       "or hf:<folder holding config.json>)"),
}

ZOOS = {
    "timm": Zoo("timm", "timm", "nowrongturns.tasks.zoo_models", r"[A-Za-z0-9_.\-]+"),
    # A folder's config.json becomes its model type and model_args when the config is read (config/hf_config.py).
    "hf": Zoo("transformers", "hf", "nowrongturns.tasks.zoo_models", r"[A-Za-z0-9_.\-/~]+"),
}

# Settings some rows claim: a run keeps them only when its data set or model does.
SPECIFIC_KEYS = frozenset(k for row in [*DATASETS.values(), *MODELS.values()] for k in row.keys)


def row_name(model: str) -> str:
    """The MODELS row of a model: its own name, or its zoo's for a zoo model ("timm:resnet50" -> "timm")."""
    zoo, sep, _ = model.partition(":")
    return zoo if sep else model


def model_row(model: str) -> Model:
    return MODELS[row_name(model)]


def uses(dataset: str, model: str, key: str) -> bool:
    """Does a run of this data set and model use this setting? Settings no row claims are used by every run."""
    if key not in SPECIFIC_KEYS:
        return True
    return key in DATASETS[dataset].keys or key in model_row(model).keys


def incompatibility(dataset: str, model: str, width_multiplier: float) -> tuple[str, str] | None:
    """(the key at fault, why) when the run's data set, model and width multiplier do not go together."""
    tasks = DATASETS[dataset].tasks
    if row_name(model) not in tasks:
        takes = [f"{m}:<name>" if m in ZOOS else m for m in sorted(tasks)]
        return "model", f"dataset {dataset!r} takes model {' or '.join(takes)}"
    widths = model_row(model).widths
    if widths and width_multiplier not in widths:
        return "width_multiplier", f"{model} takes {' or '.join(map(str, widths))}"
    return None


def needs_data_dir(dataset: str) -> bool:
    return DATASETS[dataset].files is not None


def load_object(path: str):
    """The object a "module:name" path names."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def build_task(run: RunSettings, device, dtype):
    """The run's task (data, model and loss), imported only now: the digits study never imports torchvision."""
    if run.dataset == "plugin":
        task = load_object(PLUGIN)(run.task, run.task_digest)
    else:
        task = load_object(DATASETS[run.dataset].tasks[row_name(run.model)])
    return task(run, device, dtype)

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# Where no GPU is visible, the Triton kernels (nowrongturns/geometry/triton_sums.py) run under Triton's
# interpreter on CPU tensors. It is chosen when a kernel is defined, hence before any test imports one.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

ROOT = Path(__file__).resolve().parents[1]


def pytest_report_header(config):
    # The suite must pass on any CPU (CONTRIBUTING.md); the log says which one it ran on.
    from nowrongturns.logs import cpu

    return f"cpu: {cpu()}; torch threads: {torch.get_num_threads()}"


def settings(**overrides) -> dict:
    """A complete, normalized-ready run setting (schema defaults + overrides)."""
    from nowrongturns.config import run_defaults

    s = run_defaults()
    s.update(overrides)
    return s


@pytest.fixture
def make_settings():
    return settings


def example_module(name: str):
    """examples/<name>.py, imported as a module (examples/ is not a package: users run its files)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cli(*args, cwd, check=True, **kw):
    """Run `python -m nowrongturns ...` in a fresh process, as a user or a cluster job would."""
    proc = subprocess.run([sys.executable, "-m", "nowrongturns", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"nowrongturns {args} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="session")
def local_reduced_study(tmp_path_factory):
    """The reduced default study (.test/config.yaml) run locally, once per session: the pipeline tests read
    copies of it, and the container and cluster runs must equal it. Tests must not change it."""
    from .workflow import TEST_STUDY, snakemake

    work = tmp_path_factory.mktemp("local_study")
    shutil.copy(TEST_STUDY, work / "config.yaml")
    snakemake(work)
    return work

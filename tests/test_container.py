"""The Dockerfile built for real, converted to a .sif, and the reduced default study run inside it
with `--use-singularity`.

`.ci/container.sh` starts a Docker daemon, makes a Debian 12 base image with debootstrap (no
registry is reachable in CI), builds the Dockerfile on it and converts the image with apptainer.
Skips where that is impossible (not root, tools missing); under CI it must run. Set
NOWRONGTURNS_SIF to an existing .sif to skip the build while working on the test.
"""
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import ROOT
from .workflow import SUBSET, assert_same_results, reduced_default_config, require_root_tools, snakemake, write

pytestmark = [pytest.mark.slow, pytest.mark.container]
TOOLS = ["dockerd", "docker", "debootstrap", "apptainer", "mksquashfs"]
# Root here lacks CAP_SYS_RESOURCE, and apptainer run as root asks for every capability.
APPTAINER_ENV = {"APPTAINER_DROP_CAPS": "CAP_SYS_RESOURCE"}


@pytest.fixture(scope="module")
def sif(tmp_path_factory):
    if os.environ.get("NOWRONGTURNS_SIF"):
        return Path(os.environ["NOWRONGTURNS_SIF"])
    require_root_tools("the container test", TOOLS)
    out = tmp_path_factory.mktemp("image") / "nowrongturns.sif"
    t0 = time.monotonic()
    proc = subprocess.run(["bash", ROOT / ".ci/container.sh", out], capture_output=True, text=True, timeout=2400)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    image_size = re.search(r"image \[.*\] size (\d+) bytes", proc.stdout)
    assert "docker run as: nwt" in proc.stdout  # the image's default user is not root
    print(f"\nimage built and converted in {time.monotonic() - t0:.0f} s; image "
          f"{int(image_size.group(1)) / 2**30:.2f} GiB, .sif {out.stat().st_size / 2**30:.2f} GiB")
    return out


def test_image_holds_the_pinned_software_and_no_data(sif):
    code = ("import sys, torch, timm, transformers, nowrongturns; "
            "print(sys.executable, torch.__version__, timm.__version__, transformers.__version__)")
    proc = subprocess.run(["apptainer", "exec", "--containall", sif, "python", "-c", code],
                          capture_output=True, text=True, env={**os.environ, **APPTAINER_ENV}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "/opt/nowrongturns/bin/python"
    assert proc.stdout.split()[1].startswith("2.14.1")  # the torch pyproject.toml pins
    assert proc.stdout.split()[2:] == ["1.0.31", "5.25.0"]  # the timm and hf extras, pinned
    inspect = subprocess.run(["apptainer", "inspect", "--json", sif], capture_output=True, text=True, timeout=120)
    assert inspect.returncode == 0
    # No data baked in: the image holds software only.
    listing = subprocess.run(["apptainer", "exec", sif, "sh", "-c", "ls /src /opt/nowrongturns/results 2>&1; true"],
                             capture_output=True, text=True, env={**os.environ, **APPTAINER_ENV}, timeout=120)
    assert "No such file" in listing.stdout


# What Triton does once per GPU machine before its first kernel: build a Python extension (its
# launcher) with the C compiler and Python's headers. Without them the GPU sums fall back to Gram matrices.
EXTENSION = """
#include <Python.h>
static struct PyModuleDef probe = {PyModuleDef_HEAD_INIT, "probe", NULL, -1, NULL};
PyMODINIT_FUNC PyInit_probe(void) { return PyModule_Create(&probe); }
"""


def test_image_can_build_tritons_launcher(sif):
    code = ("import sys, triton; from triton.runtime.build import compile_module_from_src; "
            "print(compile_module_from_src(sys.stdin.read(), 'probe').__name__, triton.__version__)")
    proc = subprocess.run(["apptainer", "exec", "--containall", sif, "python", "-c", code], input=EXTENSION,
                          capture_output=True, text=True, env={**os.environ, **APPTAINER_ENV}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("probe ")


def test_reduced_studies_run_in_the_container_and_equals_a_local_run(sif, local_reduced_study, tmp_path):
    write(tmp_path / "config.yaml", reduced_default_config(SUBSET))
    t0 = time.monotonic()
    snakemake(tmp_path, "--use-singularity", "--config", f"container={sif}", env=APPTAINER_ENV, timeout=2400)
    print(f"\nreduced study in the container: {time.monotonic() - t0:.0f} s")
    logs = sorted((tmp_path / "results").rglob("logs/*.log"))
    assert len(logs) > 20  # every job of 4 runs
    for log in logs:
        first = log.read_text().splitlines()[0]
        # Every rule ran in the image: its interpreter, and apptainer's own marker.
        assert "python=/opt/nowrongturns/bin/python" in first and "container=" in first, f"{log}: {first}"
    assert assert_same_results(local_reduced_study, tmp_path) == 4

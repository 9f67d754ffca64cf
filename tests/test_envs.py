"""The conda environment, the container's constraints and pyproject.toml agree on versions."""
import re

import tomllib
import yaml
from packaging.requirements import Requirement

from .conftest import ROOT


def pins(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            name, version = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line).groups()
            out[name.lower()] = version
    return out


def test_conda_env_pins_exactly_the_container_versions():
    constraints = pins((ROOT / "envs/constraints.txt").read_text().splitlines())
    env = yaml.safe_load((ROOT / "envs/nowrongturns.yaml").read_text())
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert pins(pip) == constraints
    assert "python=3.11" in env["dependencies"]  # the image's Python (Debian 12 / the PyTorch image)


def test_pins_satisfy_pyproject():
    constraints = pins((ROOT / "envs/constraints.txt").read_text().splitlines())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for name in ("timm", "hf") for r in project["optional-dependencies"][name]]
    for dep in map(Requirement, project["dependencies"] + extras):
        assert dep.name.lower() in constraints, f"{dep.name} is not pinned in envs/constraints.txt"
        assert dep.specifier.contains(constraints[dep.name.lower()]), f"{dep} vs {constraints[dep.name.lower()]}"

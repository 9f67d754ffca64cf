"""The package's layers: every import points down, and what Snakemake imports to plan stays free of torch.

A module may import its own layer and those below it, never one above: the tree then reads as the design
(nowrongturns/__init__.py draws it), and a lower layer can be tested and reused without the upper ones.
"""
import ast
import subprocess
import sys

from .conftest import ROOT

PACKAGE = ROOT / "nowrongturns"
# Bottom first. A prefix names a subpackage and every module under it.
LAYERS = [
    ("storage", "logs"),
    ("datasets.catalog", "datasets.published"),
    ("config",),
    ("datasets",),
    ("parallel",),
    ("tasks", "geometry"),
    ("train",),
    ("reference", "replay", "full_batch", "forks", "straight_path", "sharpness", "stats", "report_tables", "plots",
     "findings"),
    ("cli", "rank", "__main__"),
]
# What Snakemake imports to plan, and what the report steps run: none of it may pull in torch.
TORCH_FREE = ["nowrongturns.config", "nowrongturns.datasets.fetch", "nowrongturns.datasets.inspect",
              "nowrongturns.datasets.command", "nowrongturns.config.wiring", "nowrongturns.config.jobs", "nowrongturns.storage",
              "nowrongturns.stats", "nowrongturns.plots", "nowrongturns.report_tables", "nowrongturns.geometry.metrics",
              "nowrongturns.findings"]


def module_name(path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """The layer of a module given relative to the package ("train.engine", "cli")."""
    for i, names in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return i
    raise AssertionError(f"module nowrongturns.{module} is in no layer of tests/test_layers.py: add it to one")


def imported(path) -> set[str]:
    """Every module of the package a file imports, at the top or inside a function, relative to the package."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nowrongturns"):
            base = node.module.removeprefix("nowrongturns").lstrip(".")
            found |= {f"{base}.{a.name}".strip(".") if (PACKAGE / base.replace(".", "/") / a.name).exists()
                      or (PACKAGE / base.replace(".", "/") / f"{a.name}.py").exists() else base for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; the package imports absolutely, so layers read at a glance")
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("nowrongturns").lstrip(".") for a in node.names
                      if a.name.startswith("nowrongturns.")}
    return found - {""}


def test_every_import_points_down():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        mine = module_name(path)
        if not mine:
            continue  # the package's own __init__: a docstring and the version
        for other in imported(path):
            if layer_of(other) > layer_of(mine):
                upward.append(f"nowrongturns.{mine} (layer {layer_of(mine)}) imports nowrongturns.{other} "
                              f"(layer {layer_of(other)})")
    assert not upward, "imports that point up a layer:\n  " + "\n  ".join(upward)


def test_the_contract_catches_an_upward_import(tmp_path):
    """The check above would fail on a lower module that reached up: one written here, checked the same way."""
    probe = PACKAGE / "storage" / "files.py"
    source = probe.read_text() + "\nfrom nowrongturns.train.engine import Trainer\n"
    fake = tmp_path / "files.py"
    fake.write_text(source)
    assert "train.engine" in imported(fake)
    assert layer_of("train.engine") > layer_of(module_name(probe))


def test_every_module_is_in_a_layer():
    for path in PACKAGE.rglob("*.py"):
        if module_name(path):
            layer_of(module_name(path))


def test_planning_and_report_modules_do_not_import_torch():
    """One fresh interpreter imports them in turn and names the first after which torch is loaded."""
    code = ("import importlib, sys\n"
            f"for m in {TORCH_FREE!r}:\n"
            "    importlib.import_module(m)\n"
            "    if 'torch' in sys.modules:\n"
            "        print(m); break\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "", f"importing {out.stdout.strip()} loads torch"


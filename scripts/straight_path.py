# Thin adapter: Snakemake rule `straight_path` -> nowrongturns.straight_path.run_straight_path
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.config import runtime_settings  # noqa: E402
from nowrongturns.logs import logged  # noqa: E402
from nowrongturns.straight_path import run_straight_path  # noqa: E402

with logged(sm.log[0]):
    settings = {**sm.params.settings, **runtime_settings(sm.config, sm.wildcards.run)}
    run_straight_path(settings, sm.wildcards.run, sm.params.trunk, sm.params.trunk_dir, sm.params.from_epochs,
                      sm.params.points, sm.input.w_star, sm.output[0], sm.params.path_bn, sm.params.path_bn_batches)

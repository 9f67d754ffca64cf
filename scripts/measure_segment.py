# Thin adapter: Snakemake rule `measure_segment` -> nowrongturns.replay.run_segment
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.config import runtime_settings  # noqa: E402
from nowrongturns.logs import logged  # noqa: E402
from nowrongturns.replay import run_segment  # noqa: E402

start, end = sm.params.bounds
with logged(sm.log[0]):
    settings = {**sm.params.settings, **runtime_settings(sm.config, sm.wildcards.run)}
    run_segment(settings, sm.wildcards.run, sm.params.run_dir, int(sm.wildcards.segment), start, end,
                sm.params.targets, sm.output[0], sm.params.tolerance, sm.params.forks, mpi=sm.resources.get("mpi"),
                per_block=sm.params.per_block)

# Thin adapter: Snakemake rule `sharpness_segment` -> nowrongturns.sharpness.run_sharpness_segment
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.config import runtime_settings  # noqa: E402
from nowrongturns.logs import logged  # noqa: E402
from nowrongturns.sharpness import run_sharpness_segment  # noqa: E402

start, end = sm.params.bounds
with logged(sm.log[0]):
    settings = {**sm.params.settings, **runtime_settings(sm.config, sm.wildcards.run)}
    run_sharpness_segment(settings, sm.wildcards.run, sm.params.run_dir, int(sm.wildcards.segment), start, end,
                          sm.params.every, sm.params.iterations, sm.params.batches, sm.output[0], sm.params.tolerance)

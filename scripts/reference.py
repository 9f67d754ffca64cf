# Thin adapter: Snakemake rule `reference` -> nowrongturns.reference.run_reference
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.config import runtime_settings  # noqa: E402
from nowrongturns.logs import logged  # noqa: E402
from nowrongturns.reference import run_reference  # noqa: E402

with logged(sm.log[0]):
    settings = {**sm.params.settings, **runtime_settings(sm.config, sm.wildcards.run)}
    run_reference(settings, sm.wildcards.run, sm.params.run_dir, sm.params.checkpoint_every,
                  sm.output.w0, sm.output.w_star, sm.output.history, budgets=sm.params.budgets,
                  mpi=sm.resources.get("mpi"))

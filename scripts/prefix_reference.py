# Thin adapter: Snakemake rule `prefix_reference` -> nowrongturns.reference.extract_prefix
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.logs import logged  # noqa: E402
from nowrongturns.reference import extract_prefix  # noqa: E402

with logged(sm.log[0]):
    extract_prefix(sm.params.trunk, sm.params.trunk_dir, sm.params.budget, sm.wildcards.run,
                   sm.output.w0, sm.output.w_star, sm.output.history)

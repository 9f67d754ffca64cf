# Thin adapter: Snakemake rule `blocks` -> nowrongturns.stats.blocks_table
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.logs import logged  # noqa: E402
from nowrongturns.stats import blocks_table  # noqa: E402

with logged(sm.log[0]) as log:
    table = blocks_table(sm.wildcards.run, list(sm.input), sm.params.budget, sm.output[0])
    log.info("blocks table: %d blocks x %d epochs", table["block"].nunique(), table["epoch"].nunique())

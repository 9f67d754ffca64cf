# Thin adapter: Snakemake rule `aggregate` -> nowrongturns.stats.aggregate
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.logs import logged  # noqa: E402
from nowrongturns.stats import aggregate  # noqa: E402

with logged(sm.log[0]) as log:
    out = sm.output
    steps = aggregate(sm.wildcards.run, list(sm.input), sm.params.budget, sm.params.grad_clip,
                      out.steps, out.drift, out.epochs, out.lolr)
    log.info("gathered %d steps from %d segments; per-epoch statistics and loLR of %d epochs",
             len(steps), len(sm.input), steps["epoch"].nunique())

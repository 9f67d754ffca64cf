# Thin adapter: Snakemake rule `gather` -> nowrongturns.stats.gather
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.logs import logged  # noqa: E402
from nowrongturns.stats import gather  # noqa: E402

with logged(sm.log[0]) as log:
    steps = gather(sm.wildcards.run, list(sm.input), sm.params.budget, sm.output.steps, sm.output.drift,
                   sm.params.grad_clip)
    log.info("gathered %d steps from %d segments", len(steps), len(sm.input))

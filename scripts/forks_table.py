# Thin adapter: Snakemake rule `forks_table` -> nowrongturns.forks.forks_table
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.forks import forks_table  # noqa: E402
from nowrongturns.logs import logged  # noqa: E402

with logged(sm.log[0]) as log:
    table = forks_table(sm.wildcards.run, list(sm.input.segments), sm.params.budget, sm.params.forks,
                        sm.params.fork_ids, sm.output[0], sm.input.w_star, list(sm.input.fork_w_stars))
    log.info("forks table: %d rows for forks %s", len(table), sm.params.fork_ids)

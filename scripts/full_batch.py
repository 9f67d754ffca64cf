# Thin adapter: Snakemake rule `full_batch` -> nowrongturns.full_batch.full_batch_table
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.full_batch import full_batch_table  # noqa: E402
from nowrongturns.logs import logged  # noqa: E402

with logged(sm.log[0]) as log:
    table = full_batch_table(sm.wildcards.run, list(sm.input.segments), sm.params.budget, sm.params.forks,
                             sm.input.steps, sm.output[0])
    log.info("full-batch table: %d rows (%d epochs, modes %s, targets %s)", len(table), table["epoch"].nunique(),
             sorted(table["mode"].unique()), sorted(table["target"].unique()))

# Thin adapter: Snakemake rule `epoch_stats` -> nowrongturns.stats.write_epoch_stats
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.logs import logged  # noqa: E402
from nowrongturns.stats import write_epoch_stats  # noqa: E402

with logged(sm.log[0]):
    write_epoch_stats(sm.input[0], sm.output[0])

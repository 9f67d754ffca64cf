# Thin adapter: Snakemake rule `lolr` -> nowrongturns.stats.write_lolr
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.logs import logged  # noqa: E402
from nowrongturns.stats import write_lolr  # noqa: E402

with logged(sm.log[0]):
    write_lolr(sm.input[0], sm.output[0])

# Thin adapter: Snakemake rule `sharpness` -> nowrongturns.sharpness.sharpness_table
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.logs import logged  # noqa: E402
from nowrongturns.sharpness import sharpness_table  # noqa: E402

with logged(sm.log[0]) as log:
    table = sharpness_table(sm.wildcards.run, list(sm.input.segments), sm.params.budget, sm.input.lolr, sm.output[0])
    log.info("sharpness table: %d epochs, λ_max from %.4g to %.4g", len(table), table["lambda_max"].iloc[0],
             table["lambda_max"].iloc[-1])

# Thin adapter: Snakemake rule `findings` -> nowrongturns.findings.findings_page
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.findings import findings_page  # noqa: E402
from nowrongturns.logs import logged  # noqa: E402

with logged(sm.log[0]) as log:
    findings_page(sm.params.studies, sm.params.drop_final_epoch, sm.output[0])
    log.info("wrote %s", sm.output[0])

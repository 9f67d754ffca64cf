# Thin adapter: Snakemake rule `drift_summary` -> nowrongturns.report_tables.write_drift_summary
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.logs import logged  # noqa: E402
from nowrongturns.report_tables import write_drift_summary  # noqa: E402

with logged(sm.log[0]) as log:
    write_drift_summary(dict(zip(sm.params.runs, sm.input)), sm.params.tolerance, sm.output[0])
    log.info("wrote %s", sm.output[0])

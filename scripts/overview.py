# Thin adapter: Snakemake rule `overview` -> nowrongturns.plots.render_overview
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.logs import logged  # noqa: E402
from nowrongturns.plots import render_overview  # noqa: E402

with logged(sm.log[0]) as log:
    paths = render_overview(Path(sm.output[0]).parent, sm.params.studies, drop_final_epoch=sm.params.drop_final_epoch,
                            formats=sm.params.formats, dpi=sm.params.dpi)
    log.info("wrote %s", ", ".join(str(p) for p in paths))

# Thin adapter: Snakemake rules `figure_<kind>` -> nowrongturns.plots.render_study
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.logs import logged  # noqa: E402
from nowrongturns.plots import render_study  # noqa: E402

with logged(sm.log[0]) as log:
    paths = render_study(Path(sm.output[0]).parent, sm.wildcards.study, [sm.params.kind], sm.params.runs,
                         sm.params.compare, drop_final_epoch=sm.params.drop_final_epoch,
                         formats=sm.params.formats, dpi=sm.params.dpi)
    log.info("wrote %s", ", ".join(str(p) for p in paths))

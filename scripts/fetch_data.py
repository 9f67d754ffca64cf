# Thin adapter: Snakemake rule `fetch_data` -> nowrongturns.datasets.ready.make_ready
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.datasets.ready import make_ready  # noqa: E402
from nowrongturns.logs import logged  # noqa: E402

with logged(sm.log[0]):
    make_ready(sm.config, sm.wildcards.dataset, sm.output.mark)

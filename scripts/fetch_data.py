# Thin adapter: Snakemake rule `fetch_data` -> nowrongturns.datasets.fetch.fetch
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.datasets.fetch import fetch  # noqa: E402
from nowrongturns.logs import logged  # noqa: E402
from nowrongturns.storage.files import write_json  # noqa: E402

with logged(sm.log[0]):
    found = fetch(sm.wildcards.dataset, Path(sm.output.ready).parent, sm.params.sources, sm.params.retries,
                  sm.params.cache)
    write_json({"dataset": sm.wildcards.dataset, "md5s": found.md5s}, sm.output.ready)

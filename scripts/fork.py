# Thin adapter: Snakemake rule `fork` -> nowrongturns.forks.run_fork
import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
# The package sits next to scripts/: importable without install (also under --use-conda).
sys.path.insert(0, str(Path(sm.scriptdir).parent))
from nowrongturns.config import runtime_settings  # noqa: E402
from nowrongturns.forks import run_fork  # noqa: E402
from nowrongturns.logs import logged  # noqa: E402

with logged(sm.log[0]):
    settings = {**sm.params.settings, **runtime_settings(sm.config, sm.wildcards.run)}
    fork = sm.params.fork
    run_fork(settings, sm.wildcards.run, sm.wildcards.fork, fork["at_epoch"], fork["seed"], sm.params.trunk,
             sm.params.trunk_dir, sm.params.fork_dir, sm.params.checkpoint_every, sm.output.w_star,
             sm.output.history)

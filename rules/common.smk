# The validated, expanded config, and the wiring of the rules to it (nowrongturns/config/wiring.py, where the
# logic lives and is tested): the rules name W's methods as their input, params and resource functions.
from snakemake.exceptions import WorkflowError

from nowrongturns.storage import paths
from nowrongturns.config import RUN_ID_PATTERN, ConfigError, load
from nowrongturns.config.figure_kinds import FULL_BATCH_MODES, KINDS
from nowrongturns.config.wiring import Wiring, one_of

try:
    PIPE = load(config)
except ConfigError as err:
    raise WorkflowError(f"invalid configuration: {err}") from None

W = Wiring(PIPE)
RESULTS = PIPE.results
RUNS = paths.run_dir(RESULTS, "{run}")  # the rules' pattern of a run's folder
FORMATS = W.formats
RANK_RESOURCES = W.rank_resources()


wildcard_constraints:
    run=RUN_ID_PATTERN,
    segment=r"\d+",
    study=r"[A-Za-z][A-Za-z0-9_]*",
    fighash=r"[0-9a-f]{10}",
    tablehash=r"[0-9a-f]{10}",
    runshash=r"[0-9a-f]{10}",
    findingshash=r"[0-9a-f]{10}",
    fork=r"at\d+-seed\d+",


def with_report(files, **flags):
    """{format: path} as a rule's outputs, the first of PNG, SVG, PDF among them flagged for the report."""
    shown = next(f for f in ("png", "svg", "pdf") if f in files)
    return [report(path, **flags) if f == shown else path for f, path in files.items()]


def figure_outputs(kind):
    files = {f: paths.figure(RESULTS, "{study}", "{fighash}", kind, f) for f in FORMATS}
    labels = {"study": "{study}", "figure": kind}
    return with_report(files, caption=f"../report/{kind}.rst", category="{study}", subcategory=kind, labels=labels)


def overview_outputs():
    files = {f: paths.overview_figure(RESULTS, "{fighash}", f) for f in FORMATS}
    return with_report(files, caption="../report/overview.rst", category="Overview", labels={"figure": "gamma"})

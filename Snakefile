# nowrongturns: the geometry of optimization paths (RSI, EB, γ, loLR), after "No Wrong Turns".
#   snakemake --cores all                      # the embedded default study (config.yaml)
#   snakemake --cores all --configfile my.yaml # your own study
# The logic lives in the `nowrongturns` package; the rules only wire files to it.
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")

# The package sits next to the Snakefile; scripts/ does the same for each job.
sys.path.insert(0, workflow.basedir)

from nowrongturns.config import ConfigError, read_config_file

# The embedded default study, unless --configfile gave one: Snakemake would otherwise merge
# a preset into the default studies instead of replacing them. --config key=value still
# overrides single keys of either (e.g. --config container=nowrongturns.sif).
if not workflow.overwrite_configfiles:
    # Read it first: Snakemake's error for malformed YAML names no line.
    try:
        read_config_file("config.yaml")
    except ConfigError as err:
        raise WorkflowError(str(err)) from None

    configfile: "config.yaml"


include: "rules/common.smk"


# The report (snakemake --report report.html): this page, then every figure and table by study.
report: "report/workflow.rst"


# Every rule runs in this image under --use-singularity (config key `container`).
container: PIPE.container


include: "rules/data.smk"
include: "rules/reference.smk"
include: "rules/measure.smk"
include: "rules/aggregate.smk"
include: "rules/full_batch.smk"
include: "rules/forks.smk"
include: "rules/straight_path.smk"
include: "rules/sharpness.smk"
include: "rules/figures.smk"


rule all:
    default_target: True
    input:
        W.all_outputs(),

# scalelab: the scaling study of Hestness et al. 2017 as a cached pipeline.
#   snakemake --cores all              run the study in params.yaml on this machine
#   snakemake --profile slurm          the same DAG on a SLURM cluster (edit slurm/config.yaml)
#   snakemake --report report.html     a self-contained HTML report of the finished study
# The DAG: prepare -> shard (one per size) -> train (one per shard and family: a batch of trials) -> select
#          -> audit -> fit -> predict -> figures, report. Each step is one `scalelab` command; see workflow/rules/.

import os
import sys
from pathlib import Path

# Jobs run this checkout's own code (workflow/scalelab), whatever else is installed.
WORKFLOW_DIR = Path(workflow.basedir) / "workflow"
sys.path.insert(0, str(WORKFLOW_DIR))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(WORKFLOW_DIR), os.environ.get("PYTHONPATH")) if p)
# ...with the interpreter running Snakemake, so `scalelab` is found without activating .venv.
os.environ["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), os.environ.get("PATH", "")))

configfile: "params.yaml"

from scalelab.config import load as _load_params
from scalelab.errors import ScalelabError

try:
    # Validated against workflow/scalelab/params.schema.yaml, with one-line errors.
    _params_on_disk = _load_params("params.yaml")
except ScalelabError as _error:
    sys.exit(f"scalelab: {_error}")
if config != _params_on_disk:
    # Every step reads params.yaml itself (so DVC runs the same commands); an override
    # given only to Snakemake would not reach them.
    sys.exit("scalelab: --config/--configfile overrides are not seen by the steps; edit params.yaml "
             "(or copy a preset over it: cp presets/NAME.yaml params.yaml) instead")


include: "workflow/rules/common.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/shard.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/audit.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/report.smk"


# The study's final products: figures, fit, predictions, the summary page and the convergence audit.
rule all:
    input:
        FIGURES,
        "results/fit.json",
        "results/audit.json",
        "results/predictions.json",
        "results/metrics.json",
        "results/summary.md",
    default_target: True

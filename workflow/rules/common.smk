# Names and paths derived from params.yaml, shared by every rule.

from scalelab import study
from scalelab.pool import split_paths
from scalelab.steps import FIGURES as FIGURE_NAMES, code_files, param_values

# Under a cluster executor only training is submitted: the other steps take seconds, less
# than they would wait in a GPU queue (and prepare runs once).
localrules: all, prepare, shard, select, fit, figures, predict

SHARD_SIZES = study.shard_sizes(config)  # {"k7": 128, ...}
EXPONENTS = sorted(config["shards"]["exponents"])
POOL_FILES = [str(p) for p in split_paths("data/pool").values()]
BATCH_DIR = "results/trials/k{k}/{family}"  # one family's trials on one shard: one train job


def code(step, family=None):
    """The code files `step` runs (for one family: its own model module only): editing one reruns
    the step (content, not mtime, decides)."""
    return code_files(step, config, workflow.basedir, family)


def step_params(step):
    """The params.yaml keys `step` reads, as rule params: editing one reruns the step (steps.py)."""
    return param_values(step, config)


def trial_batches():
    """The folder of every family's trials on every shard (select reads the trials params.yaml names)."""
    return [BATCH_DIR.format(k=k, family=family) for k in EXPONENTS for family in study.families(config)]


FIGURES = [
    f"results/figures/{name}.{fmt}"
    for name in FIGURE_NAMES
    for fmt in config["figures"]["formats"]
]


wildcard_constraints:
    k=r"\d+",
    family=r"[A-Za-z][A-Za-z0-9_]*",

# Names and paths derived from params.yaml, shared by every rule.

from scalelab import study
from scalelab.pool import heldout_paths, shard_paths
from scalelab.pipeline import FIGURES as FIGURE_NAMES, code_files, data_files, param_values

# Under a cluster executor only training is submitted: the other steps take seconds, less
# than they would wait in a GPU queue (and prepare runs once).
localrules: all, prepare, shard, select, fit, figures, predict, report

SHARD_SIZES = study.shard_sizes(config)  # {"k7": 128, ...}
EXPONENTS = sorted(config["shards"]["exponents"])
# Folders a step takes whole, with the files in them that rules declare: a rule passes the folder
# (the folder of files a rule names itself is found by folder()).
HELDOUT_DIR = "data/heldout"
SHARDS_DIR = "data/shards"
TRIALS_DIR = "results/trials"
HELDOUT_FILES = [str(p) for p in heldout_paths(HELDOUT_DIR).values()]
SHARD_DIR = SHARDS_DIR + "/k{k}"
SHARD_FILES = {name: str(p) for name, p in shard_paths(SHARD_DIR).items()}  # x, y and shard.json
BATCH_DIR = TRIALS_DIR + "/k{k}/{family}"  # one family's trials on one shard: one train job
LEDGER = "results/ledger.csv"  # the forecast ledger: an input kept in git, no rule writes it (ledger.py)


def code(step, family=None):
    """The code files `step` runs (for one family: its own model module only): editing one reruns
    the step (content, not mtime, decides)."""
    return code_files(step, config, workflow.basedir, family)


def data(step):
    """The data files `step` reads by name from params.yaml (a manifest). ancient(): appending rows
    (new data bought) must not rerun the steps done (their rows are unchanged; a new shard reads the
    new rows); after editing rows already used, force them (snakemake --forcerun prepare)."""
    return [ancient(f) for f in data_files(step, config)]


def step_params(step):
    """The params.yaml keys `step` reads, as rule params: editing one reruns the step (pipeline.py)."""
    return param_values(step, config)


def folder(*paths):
    """The one folder holding `paths` (files, or lists of them): what a rule passes to a step that
    takes a folder, derived from the files the rule declares."""
    folders = {os.path.dirname(p) for item in paths for p in ([item] if isinstance(item, str) else item)}
    if len(folders) != 1:
        raise ValueError(f"expected files in one folder, got {sorted(folders)}")
    return folders.pop()


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

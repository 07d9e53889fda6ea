"""scalelab: measure how error falls with data and model size, then extrapolate.

One module per pipeline step (prepare, shard, train, select, fit, figures, predict), each a
subcommand of the `scalelab` CLI that Snakemake and DVC both call.
"""

__version__ = "0.1.0"

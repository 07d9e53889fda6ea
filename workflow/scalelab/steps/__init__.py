"""The pipeline steps, one module per Snakemake rule and DVC stage, named as the rules are:
prepare, shard, train, select, audit, fit, figures, predict (which writes the summary page
through report). Each has `run(params, ...)`, called by the `scalelab <step>` command with the
paths the rule names. Which params keys and code files each step depends on: scalelab.pipeline.
"""

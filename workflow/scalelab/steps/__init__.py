"""The pipeline steps, one module per Snakemake rule and DVC stage, named as the rules are:
prepare, shard, train, select, audit, fit, predict, figures, report (which writes the summary page
and metrics.json; report_sections holds its sections). Each has `run(params, ...)`, called by the
`scalelab <step>` command with the paths the rule names. Which params keys and code files each step depends on: scalelab.pipeline.
"""

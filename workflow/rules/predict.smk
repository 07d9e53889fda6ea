# Error at more data, data for a target error, model size and cost there, the next experiment; and the summary page.
rule predict:
    input:
        fit="results/fit.json",
        samples="results/fit_samples.csv",
        best="results/tables/best.csv",
        trials="results/tables/trials.csv",
        timing="results/tables/timing.csv",
        info="data/pool.json",
        ledger=LEDGER,  # history, read never written: `scalelab grow` / `scalelab ledger` append to it
        code=code("predict"),
    output:
        predictions="results/predictions.json",
        metrics="results/metrics.json",
        cost="results/cost.json",
        summary=report("results/summary.md", caption="../report/summary.rst", category="Summary"),
    params:
        **step_params("predict"),
        tables_dir=lambda wildcards, input: folder(input.best, input.trials, input.timing),
    log:
        "logs/predict.log",
    shell:
        "scalelab predict --fit {input.fit} --samples {input.samples} --tables-dir {params.tables_dir} --info {input.info}"
        " --out {output.predictions} --summary {output.summary} --metrics {output.metrics} --cost {output.cost} --ledger {input.ledger} 2> {log}"

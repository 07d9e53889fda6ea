# Error at more data, data for a target error, model size and cost there (the cost laws), the next experiment.
rule predict:
    input:
        fit="results/fit.json",
        samples="results/fit_samples.csv",
        best="results/tables/best.csv",
        trials="results/tables/trials.csv",
        timing="results/tables/timing.csv",
        info="data/pool.json",
        code=code("predict"),
    output:
        predictions="results/predictions.json",
        cost="results/cost.json",
    params:
        **step_params("predict"),
        tables_dir=lambda wildcards, input: folder(input.best, input.trials, input.timing),
    log:
        "logs/predict.log",
    shell:
        "scalelab predict --fit {input.fit} --samples {input.samples} --tables-dir {params.tables_dir} --info {input.info}"
        " --out {output.predictions} --cost {output.cost} 2> {log}"

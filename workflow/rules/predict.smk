# Error at more data, data for a target error, model size there; and the summary page.
rule predict:
    input:
        fit="results/fit.json",
        samples="results/fit_samples.csv",
        best="results/tables/best.csv",
        info="data/pool.json",
        code=code("predict"),
    output:
        predictions="results/predictions.json",
        metrics="results/metrics.json",
        summary=report("results/summary.md", caption="../report/summary.rst", category="Summary"),
    params:
        **step_params("predict"),
    log:
        "logs/predict.log",
    shell:
        "scalelab predict --fit {input.fit} --tables-dir results/tables --info {input.info}"
        " --out {output.predictions} --summary {output.summary} --metrics {output.metrics} 2> {log}"

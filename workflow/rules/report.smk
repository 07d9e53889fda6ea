# The summary page and the headline metrics, from the fit, the predictions and the forecast ledger.
rule report:
    input:
        fit="results/fit.json",
        predictions="results/predictions.json",
        cost="results/cost.json",
        best="results/tables/best.csv",
        info="data/pool.json",
        ledger=LEDGER,  # history, read never written: `scalelab grow` / `scalelab ledger` append to it
        code=code("report"),
    output:
        metrics="results/metrics.json",
        summary=report("results/summary.md", caption="../report/summary.rst", category="Summary"),
    params:
        **step_params("report"),
    log:
        "logs/report.log",
    shell:
        "scalelab report --fit {input.fit} --predictions {input.predictions} --cost {input.cost} --best {input.best}"
        " --info {input.info} --ledger {input.ledger} --summary {output.summary} --metrics {output.metrics} 2> {log}"

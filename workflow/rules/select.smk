# Tabulate every trial and pick each shard's best configuration (median over seeds).
rule select:
    input:
        trial_batches(),
        code=code("select"),
    output:
        trials=report("results/tables/trials.csv", caption="../report/trials.rst", category="Tables"),
        best=report("results/tables/best.csv", caption="../report/best.rst", category="Tables"),
        timing="results/tables/timing.csv",
    params:
        **step_params("select"),
    log:
        "logs/select.log",
    shell:
        "scalelab select --trials-dir results/trials --out-dir results/tables 2> {log}"

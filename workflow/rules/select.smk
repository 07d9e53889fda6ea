# Tabulate every trial and pick each shard's best configuration (median over seeds).
rule select:
    input:
        batches=trial_batches(),
        code=code("select"),
    output:
        trials=report("results/tables/trials.csv", caption="../report/trials.rst", category="Tables"),
        best=report("results/tables/best.csv", caption="../report/best.rst", category="Tables"),
        timing="results/tables/timing.csv",
    params:
        **step_params("select"),
        tables_dir=lambda wildcards, output: folder(output),
    log:
        "logs/select.log",
    shell:
        "scalelab select --trials-dir {TRIALS_DIR} --out-dir {params.tables_dir} 2> {log}"

# Fit the learning curve (with its small-data region found) and the model-size law.
rule fit:
    input:
        best="results/tables/best.csv",
        trials="results/tables/trials.csv",
        audit="results/audit.json",
        info="data/pool.json",
        code=code("fit"),
    output:
        fit="results/fit.json",
        samples="results/fit_samples.csv",
    params:
        **step_params("fit"),
    log:
        "logs/fit.log",
    shell:
        "scalelab fit --best {input.best} --trials {input.trials} --audit {input.audit} --info {input.info}"
        " --out {output.fit} --samples {output.samples} 2> {log}"

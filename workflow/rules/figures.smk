# Draw the learning curve, the model-size curve and validation loss against model size.
rule figures:
    input:
        trials="results/tables/trials.csv",
        best="results/tables/best.csv",
        timing="results/tables/timing.csv",
        fit="results/fit.json",
        samples="results/fit_samples.csv",
        code=code("figures"),
    output:
        [report(f, caption=f"../report/{Path(f).stem}.rst", category="Figures") for f in FIGURES],
    params:
        **step_params("figures"),
    log:
        "logs/figures.log",
    shell:
        "scalelab figures --tables-dir results/tables --fit {input.fit} --out-dir results/figures 2> {log}"

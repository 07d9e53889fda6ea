# Draw the learning curve, the model-size curve, validation loss against model size, every family's
# curve, the backtest, and error against training cost (the cost laws predict fitted: cost.json).
rule figures:
    input:
        trials="results/tables/trials.csv",
        best="results/tables/best.csv",
        fit="results/fit.json",
        samples="results/fit_samples.csv",
        cost="results/cost.json",
        code=code("figures"),
    output:
        figures=[report(f, caption=f"../report/{Path(f).stem}.rst", category="Figures") for f in FIGURES],
    params:
        **step_params("figures"),
        tables_dir=lambda wildcards, input: folder(input.trials, input.best),
        out_dir=lambda wildcards, output: folder(output.figures),
    log:
        "logs/figures.log",
    shell:
        "scalelab figures --tables-dir {params.tables_dir} --fit {input.fit} --samples {input.samples} --cost {input.cost} --out-dir {params.out_dir} 2> {log}"

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
        figures=[report(f, caption=f"../report/{Path(f).stem}.rst", category="Figures") for f in FIGURES],
    params:
        **step_params("figures"),
        tables_dir=lambda wildcards, input: folder(input.trials, input.best, input.timing),
        out_dir=lambda wildcards, output: folder(output.figures),
    log:
        "logs/figures.log",
    shell:
        "scalelab figures --tables-dir {params.tables_dir} --fit {input.fit} --samples {input.samples} --out-dir {params.out_dir} 2> {log}"

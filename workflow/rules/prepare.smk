# Make the dataset once and split it into a training pool, a validation and a test set.
rule prepare:
    input:
        code=code("prepare"),
    output:
        pool=POOL_FILES,
        info="data/pool.json",
    params:
        **step_params("prepare"),
        pool_dir=lambda wildcards, output: folder(output.pool),
    log:
        "logs/prepare.log",
    shell:
        "scalelab prepare --pool-dir {params.pool_dir} --info {output.info} 2> {log}"

# Make the dataset once and split it into a training pool, a validation and a test set.
rule prepare:
    input:
        code=code("prepare"),
    output:
        pool=POOL_FILES,
        info="data/pool.json",
    params:
        **step_params("prepare"),
    log:
        "logs/prepare.log",
    shell:
        "scalelab prepare --pool-dir {POOL_DIR} --info {output.info} 2> {log}"

# Fix the validation and test sets (data/heldout) and describe the dataset (data/pool.json).
# Its params are the data section: adding a shard never reruns it.
rule prepare:
    input:
        code=code("prepare"),
        data=data("prepare"),
    output:
        heldout=HELDOUT_FILES,
        info="data/pool.json",
    params:
        **step_params("prepare"),
    log:
        "logs/prepare.log",
    shell:
        "scalelab prepare --heldout-dir {HELDOUT_DIR} --info {output.info} 2> {log}"

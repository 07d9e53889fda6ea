# One shard size: the pool's first base**k examples, in its own folder (nested and stable).
# Nothing it reads depends on the other exponents, so adding one leaves existing shards alone.
# Largest first, like the train batches that wait for it (train.smk): the longest batches start first.
rule shard:
    input:
        info="data/pool.json",
        code=code("shard"),
        data=data("shard"),
    output:
        **SHARD_FILES,
    params:
        **step_params("shard"),
        out_dir=lambda wildcards, output: folder(output),
    log:
        "logs/shard/k{k}.log",
    priority: lambda wildcards: int(wildcards.k)
    shell:
        "scalelab shard --k {wildcards.k} --info {input.info} --out-dir {params.out_dir} 2> {log}"

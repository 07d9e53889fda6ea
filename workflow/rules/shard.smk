# One shard size: the first base**k indices of one seeded permutation of the pool (nested).
# Its params are base and seed only, so adding an exponent leaves existing shards alone.
# Largest first, like the train batches that wait for it (train.smk): the longest batches start first.
rule shard:
    input:
        info="data/pool.json",
        code=code("shard"),
    output:
        shard=SHARD_FILE,
    params:
        **step_params("shard"),
    log:
        "logs/shard/k{k}.log",
    priority: lambda wildcards: int(wildcards.k)
    shell:
        "scalelab shard --k {wildcards.k} --info {input.info} --out {output.shard} 2> {log}"

# One batch: every trial of one family on one shard, in one process (start-up paid once), each
# trial into its own folder results/trials/k{k}/{family}/<trial>/ - the same batch as DVC's train
# stage. Params: the train section and the family's grid (which trials the batch holds). An edit
# reruns the family's batches, but each trial that finished before with the same fingerprint is
# copied from the store (.scalelab/trials, see training/store.py), so only new trials train; the store also
# lets a killed batch (whose folder Snakemake deletes) resume where it stopped.
# Priority: largest shard first, so the longest batches never start last (2 cores finish together).
# Resources: a GPU unless the study trains on CPU (locally, `--resources gpu=N` caps how many
# batches hold one at once). Group: a cluster packs small shards' batches by group-components
# (slurm/config.yaml); local runs ignore groups.
rule train:
    input:
        heldout=HELDOUT_FILES,
        info="data/pool.json",
        shard=list(SHARD_FILES.values()),
        code=lambda wildcards: code("train", wildcards.family),
    output:
        trials=directory(BATCH_DIR),
    params:
        **step_params("train"),
        family=lambda wildcards: config["models"][wildcards.family],
        shard_dir=lambda wildcards, input: folder(input.shard),
    log:
        "logs/train/k{k}/{family}.log",
    threads: 1
    priority: lambda wildcards: int(wildcards.k)
    resources:
        gpu=0 if config["train"]["device"] == "cpu" else 1,
    group:
        lambda wildcards: f"trials_k{wildcards.k}"
    shell:
        "scalelab train --k {wildcards.k} --family {wildcards.family} --all"
        " --heldout-dir {HELDOUT_DIR} --info {input.info} --shard {params.shard_dir} --out-dir {output.trials} 2> {log}"

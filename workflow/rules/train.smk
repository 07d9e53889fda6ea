# One trial: an early-stopped training run of one family's (width, lr, seed) on one shard.
# Its params are the train section and the family's module only: the grid decides which trials
# exist, not how each one trains, so widening a grid adds jobs without rerunning old ones.
# Resources: a GPU unless the study trains on CPU (locally, `--resources gpu=N` caps how many
# trials hold one at once; unconstrained without it). Group: a cluster batches each shard's
# trials by group-components (slurm/config.yaml); local runs ignore groups.
rule train:
    input:
        pool=POOL_FILES,
        info="data/pool.json",
        shard="data/shards/k{k}.npy",
        code=code("train"),
    output:
        metrics=f"{TRIAL_DIR}/metrics.json",
        history=f"{TRIAL_DIR}/history.csv",
        model=f"{TRIAL_DIR}/model.pt",
        run=f"{TRIAL_DIR}/run.json",
    params:
        **step_params("train"),
        module=lambda wildcards: study.family_module(config, wildcards.family),
        out_dir=TRIAL_DIR,
    log:
        "logs/train/k{k}/{family}/w{width}-lr{lr}-s{seed}.log",
    threads: 1
    resources:
        gpu=0 if config["train"]["device"] == "cpu" else 1,
    group:
        lambda wildcards: f"trials_k{wildcards.k}"
    shell:
        "scalelab train --k {wildcards.k} --family {wildcards.family} --width {wildcards.width} --lr {wildcards.lr} --seed {wildcards.seed}"
        " --shard {input.shard} --out-dir {params.out_dir} 2> {log}"

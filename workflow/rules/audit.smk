# Re-train each family's best configuration on the largest shards with more patience and step
# budget: does the learning curve measure the data or the stopping rule? (results/audit.json)
# One job: which configurations to re-train is known only once select has run. It re-trains
# them in parallel, one process per thread (on CPU; one at a time on a GPU).
AUDITED = study.audited_exponents(config)
AUDIT_TRIALS = len(config["models"]) * len(AUDITED) * len(config["grid"]["seed"])

rule audit:
    input:
        best="results/tables/best.csv",
        heldout=HELDOUT_FILES,
        info="data/pool.json",
        shards=[SHARD_FILES[name].format(k=k) for k in AUDITED for name in SHARD_FILES],
        code=code("audit"),
    output:
        audit="results/audit.json",
        trials=directory("results/audit"),
    params:
        **step_params("audit"),
    log:
        "logs/audit.log",
    threads: AUDIT_TRIALS  # Snakemake lowers it to --cores locally; slurm/config.yaml sets it on a cluster
    resources:
        gpu=0 if config["train"]["device"] == "cpu" else 1,
    shell:
        "scalelab audit --best {input.best} --heldout-dir {HELDOUT_DIR} --info {input.info} --shards-dir {SHARDS_DIR} --out-dir {output.trials} --out {output.audit} --jobs {threads} 2> {log}"

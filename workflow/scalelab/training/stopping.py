"""When a run is evaluated, stops, and cuts its learning rate: pure functions of the train
settings and the shard size, shared by the training loop (loop.py) and the convergence audit.

The stopping rule is in units of data, so a large shard is judged over as many passes as a small
one: validation loss is evaluated `eval_per_epoch` times per pass over the shard (within
[eval_min_steps, eval_max_steps] steps), and the run stops after max(patience_epochs passes,
patience_min_steps) steps without beating the best by min_rel_delta, or when the step budget,
which also grows with the shard, is spent.
"""

from __future__ import annotations

import math

from scalelab import study


def step_budget(train_cfg: dict, shard_size: int) -> int:
    """Steps allowed for a shard: `epochs` passes over it, within [min_steps, max_steps]."""
    batch = min(train_cfg["batch_size"], shard_size)
    wanted = math.ceil(train_cfg["epochs"] * shard_size / batch)
    return int(min(max(wanted, train_cfg["min_steps"]), train_cfg["max_steps"]))


def stopping_rule(train_cfg: dict, shard_size: int) -> dict:
    """The shard's evaluation interval (steps), patience (evaluations) and budget (steps): the
    interval is 1/eval_per_epoch of a pass within [eval_min_steps, eval_max_steps]; patience
    covers max(patience_epochs passes, patience_min_steps) steps."""
    steps_per_epoch = math.ceil(shard_size / min(train_cfg["batch_size"], shard_size))
    every = math.ceil(steps_per_epoch / train_cfg["eval_per_epoch"])
    every = min(max(every, train_cfg["eval_min_steps"]), train_cfg["eval_max_steps"])
    patience_steps = max(train_cfg["patience_epochs"] * steps_per_epoch, train_cfg["patience_min_steps"])
    return {"eval_every": int(every), "patience": int(math.ceil(patience_steps / every)),
            "budget": step_budget(train_cfg, shard_size)}


def make_schedule(opt, train_cfg: dict, rule: dict):
    """torch's scheduler for train.schedule, or None for a constant rate. cosine: linear warm-up
    over warmup_steps, then cosine decay to 0 at the step budget (stepped every step). plateau:
    the rate times plateau_factor after plateau_patience x patience evaluations without beating
    the best by min_rel_delta (stepped every evaluation with the validation loss), so it decays
    at least once before the run stops."""
    from torch.optim import lr_scheduler

    kind = train_cfg["schedule"]
    if kind == "constant":
        return None
    if kind == "plateau":
        evals = plateau_evals(train_cfg, rule)
        # ReduceLROnPlateau cuts when bad evaluations exceed its patience: `evals` bad ones cut.
        return lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=train_cfg["plateau_factor"], patience=evals - 1,
                                              threshold=train_cfg["min_rel_delta"], threshold_mode="rel")
    warmup = train_cfg["warmup_steps"]
    cosine = lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, rule["budget"] - warmup))
    if not warmup:
        return cosine
    ramp = lr_scheduler.LinearLR(opt, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup)
    return lr_scheduler.SequentialLR(opt, [ramp, cosine], milestones=[warmup])


def plateau_evals(train_cfg: dict, rule: dict) -> int:
    """Bad evaluations in a row after which the plateau schedule cuts the rate."""
    return max(1, math.ceil(train_cfg["plateau_patience"] * rule["patience"]))


# A run that differs from another only in its patience and budget, and in a plateau patience that
# cuts the rate at the same evaluations, follows it step for step.
STOPPING_KEYS = (*study.PATIENCE_AND_BUDGET, "plateau_patience")


def continuable(cfg: dict, longer_cfg: dict, shard_size: int) -> bool:
    """Pure: whether a run under `longer_cfg` repeats, step for step, one under `cfg` up to where
    that one stopped early, so it can go on from its last state: the same settings but for
    patience and budget, the same evaluation steps and rate cuts, and a rate that does not depend
    on the budget (cosine decays to it)."""
    rule, longer = stopping_rule(cfg, shard_size), stopping_rule(longer_cfg, shard_size)
    same = all(cfg.get(key) == longer_cfg.get(key) for key in set(cfg) | set(longer_cfg) if key not in STOPPING_KEYS)
    return (same and cfg["schedule"] != "cosine" and rule["eval_every"] == longer["eval_every"]
            and longer["patience"] >= rule["patience"] and longer["budget"] >= rule["budget"]
            and (cfg["schedule"] != "plateau" or plateau_evals(cfg, rule) == plateau_evals(longer_cfg, longer)))

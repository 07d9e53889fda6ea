"""The curve as a trainer FUNCTION (models.<family>.trainer: fit_fn:run)."""

from .curve import pid_file, train  # a sibling module: the study's package, loaded from its folder


def run(trial, width, depth, mode="ok"):
    pid_file()
    return train(len(trial.indices), width, depth, trial.seed, trial.checkpoint_dir,
                 lambda step, val_loss, val_error: trial.report(step, val_loss, val_error=val_error),
                 mode, lambda: trial.preempted)

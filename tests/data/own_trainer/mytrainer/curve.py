"""A stand-in for a user's training: no data is read, the "model" is a formula. Its error falls as a
power law in the shard size towards a floor, a wider model helps a little, and the seed adds a
little noise, so a whole study of it fits a learning curve in seconds. `mode` makes it misbehave
the ways a real trainer does (tests/test_own_trainer.py)."""

import json
import math
import os
import time
from pathlib import Path

EVALS = 4  # evaluations per run


def error_at(n: int, width: int, depth: int, seed: int, step: int) -> float:
    progress = step / EVALS
    floor = 0.05 + 0.5 * n ** -0.5 * (1 + 4 / width) * (1 + 1 / depth)
    return floor * (1 + (1 - progress)) * (1 + 0.01 * ((seed * 7919 + n) % 5 - 2))


def train(n: int, width: int, depth: int, seed: int, checkpoint: Path, report, mode: str, preempted) -> dict:
    """Evaluate EVALS times (resuming after the last step saved in `checkpoint`), reporting each;
    return the metrics. mode: ok | raise | nan | nometric | noparams | exit3 | malformed | slow (sleeps per step)."""
    state = checkpoint / "state.json"
    start = json.loads(state.read_text())["step"] if state.exists() else 0
    if start:
        print(f"resumed at step {start}", flush=True)
    for step in range(start + 1, EVALS + 1):
        if mode == "slow":
            time.sleep(0.5)
        error = error_at(n, width, depth, seed, step)
        report(step, error * 2, error)
        state.write_text(json.dumps({"step": step}))
        if preempted():
            return None
    if mode == "raise":
        raise RuntimeError("CUDA out of memory (simulated)")
    test_error = error_at(n, width, depth, seed, EVALS) * 1.05
    metrics = {"val_loss": error * 2, "val_error": error, "test_loss": test_error * 2, "test_error": test_error,
               "train_loss": error, "params": 100 * width * depth, "steps": EVALS, "test_extra": 1.5}
    if mode == "nan":
        metrics["val_loss"] = math.nan
    if mode == "nometric":
        del metrics["test_error"]
    if mode == "noparams":
        del metrics["params"]
    return metrics


def pid_file() -> None:
    """Tell a test which process to signal (the trainer's own pid, in $PID_FILE)."""
    if os.environ.get("PID_FILE"):
        Path(os.environ["PID_FILE"]).write_text(str(os.getpid()))

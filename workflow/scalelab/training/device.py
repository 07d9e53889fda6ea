"""Which device a trial trains on, and at what precision.

A job uses only the GPU it was given. Snakemake counts GPUs (`--resources gpu=N`) but does not
say which one a job may use, so each job claims one of the GPUs it can see with a lock file and
narrows CUDA_VISIBLE_DEVICES to it before CUDA starts. Under SLURM the visible GPUs are the
ones SLURM granted the job, and the locks are kept per SLURM job, so jobs sharing a node never
wait on each other's locks. A lock is an flock on an open file: the kernel releases it when the
process ends, however it ends, so a killed job never leaves a GPU claimed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from scalelab.errors import ScalelabError

WAIT_SECONDS = 1.0  # between attempts to claim a GPU when all are busy
_held_locks: list = []  # open lock files, kept for the life of the process


def visible_gpus() -> list[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES if set, else every GPU of the machine."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    # device_count asks NVML when the driver has it, which does not start CUDA, so
    # CUDA_VISIBLE_DEVICES can still be narrowed afterwards.
    return [str(i) for i in range(torch.cuda.device_count())]


def lock_dir() -> Path:
    """Locks are per user, and per SLURM job inside one (SLURM numbers each job's GPUs from 0)."""
    scope = f"slurm{os.environ['SLURM_JOB_ID']}" if os.environ.get("SLURM_JOB_ID") else "local"
    return Path(tempfile.gettempdir()) / f"scalelab-gpus-{os.getuid()}-{scope}"


def claim_gpu(gpus: list[str], directory: Path, wait: float = WAIT_SECONDS, log=None) -> str:
    """Lock one of `gpus` for this process and return its id; wait while all are taken."""
    directory.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for gpu in gpus:
            handle = open(directory / f"gpu-{gpu}.lock", "a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            _held_locks.append(handle)
            return gpu
        if not waited and log:
            log(f"waiting for a free GPU: all {len(gpus)} are in use (cap parallel GPU jobs with --resources gpu={len(gpus)})")
        waited = True
        time.sleep(wait)


def release_gpus() -> None:
    while _held_locks:
        _held_locks.pop().close()


def pick(choice: str, precision: str, log=None) -> torch.device:
    """The device for train.device = `choice` (auto | cpu | cuda), checked against `precision`."""
    device = torch.device("cpu")
    if choice != "cpu":
        gpus = visible_gpus()
        if gpus:
            os.environ["CUDA_VISIBLE_DEVICES"] = claim_gpu(gpus, lock_dir(), log=log)
            if torch.cuda.is_available():
                device = torch.device("cuda")
            else:  # e.g. a CPU-only torch on a GPU node
                release_gpus()
        if device.type == "cpu" and choice == "cuda":
            raise ScalelabError("train.device: cuda, but this job sees no usable GPU (CUDA_VISIBLE_DEVICES="
                                f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}, torch {torch.__version__}); "
                                "run it on a GPU or set train.device: auto")
    if precision == "bf16":
        # No silent fp32 fallback: a study whose trials ran at different precisions would mix
        # two learning curves, and its cached results would claim a precision they did not use.
        if device.type != "cuda":
            raise ScalelabError("train.precision: bf16 needs a CUDA GPU and this job has none; "
                                "set train.precision: fp32, or run the trials on GPUs")
        if not torch.cuda.is_bf16_supported(including_emulation=False):
            raise ScalelabError(f"train.precision: bf16 is not native on {torch.cuda.get_device_name(0)} "
                                "(needs compute capability 8.0+); set train.precision: fp32")
    return device


def autocast(device: torch.device, precision: str):
    """The context for forward passes: bf16 mixed precision on CUDA, else plain fp32."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def describe(device: torch.device) -> str:
    """The device's name for run.json."""
    return torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or platform.machine()


"""Which device a trial trains on, and at what precision.

A job uses only the GPU it was given. Snakemake counts GPUs (`--resources gpu=N`) but does not
say which one a job may use, so each job claims one of the GPUs it can see with a lock file and
trains on that one: torch.device("cuda", i), i its place among the visible GPUs. Under SLURM the
visible GPUs are the ones SLURM granted the job, and the locks are kept per SLURM job, so jobs
sharing a node never wait on each other's locks. A lock is an flock on an open file: the kernel
releases it when the process ends, however it ends, so a killed job never leaves a GPU claimed.

The claim belongs to a Devices object its caller makes and closes (a train job's TrialGroup; the
audit, whose re-trainings in one process share one claim): nothing is held module-wide, and
CUDA_VISIBLE_DEVICES is read, never rewritten (no child process needs it narrowed: the audit's
spawned re-trainings each claim their own GPU).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from scalelab.errors import ScalelabError

if TYPE_CHECKING:  # imported where used: a job of a user's own trainer never imports torch
    import torch

WAIT_SECONDS = 1.0  # between attempts to claim a GPU when all are busy


def visible_gpus(env: Mapping[str, str] = os.environ) -> list[str]:
    """GPU ids a process with environment `env` may use: CUDA_VISIBLE_DEVICES if set, else every
    GPU of the machine. Their order is CUDA's: the i-th is torch.device("cuda", i)."""
    listed = env.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def machine_gpus() -> list[str]:
    """The NVIDIA GPUs the driver lists, without importing torch (a trainer brings its own
    framework; scalelab only claims the GPU for it)."""
    listed = Path("/proc/driver/nvidia/gpus")
    return [str(i) for i in range(len(list(listed.iterdir())))] if listed.is_dir() else []


def lock_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Locks are per user, and per SLURM job inside one (SLURM numbers each job's GPUs from 0)."""
    scope = f"slurm{env['SLURM_JOB_ID']}" if env.get("SLURM_JOB_ID") else "local"
    return Path(tempfile.gettempdir()) / f"scalelab-gpus-{os.getuid()}-{scope}"


class Devices:
    """One owner's claim on a GPU: the GPU it locked (`gpu`, an id as CUDA_VISIBLE_DEVICES names
    it), held until close() (or the end of a `with` block, or of the process)."""

    def __init__(self, env: Mapping[str, str] | None = None, locks: Path | None = None,
                 wait: float = WAIT_SECONDS, log=None):
        self.env = os.environ if env is None else env  # read, never written
        self.locks = locks if locks is not None else lock_dir(self.env)
        self.wait, self.log = wait, log
        self.gpu: str | None = None
        self._held: list = []  # open lock files

    def __enter__(self) -> Devices:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def claim(self, gpus: list[str]) -> str:
        """Lock one of `gpus` for this owner and return its id; wait while all are taken."""
        self.locks.mkdir(parents=True, exist_ok=True)
        waited = False
        while True:
            for gpu in gpus:
                handle = open(self.locks / f"gpu-{gpu}.lock", "a")
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.close()
                    continue
                self._held.append(handle)
                self.gpu = gpu
                return gpu
            if not waited and self.log:
                self.log(f"waiting for a free GPU: all {len(gpus)} are in use (cap parallel GPU jobs with --resources gpu={len(gpus)})")
            waited = True
            time.sleep(self.wait)

    def close(self) -> None:
        """Give the claimed GPU back."""
        while self._held:
            self._held.pop().close()
        self.gpu = None

    def pick_for_trainer(self, choice: str) -> str:
        """train.device = `choice` for a user's own trainer, without torch: "cpu", or "cuda:i" for
        the claimed GPU, i its place among the visible ones. Whether the trainer's framework can
        use it (and bf16 on it) is the trainer's to say."""
        if choice == "cpu":
            return "cpu"
        listed = self.env.get("CUDA_VISIBLE_DEVICES")
        gpus = visible_gpus(self.env) if listed is not None else machine_gpus()
        if choice == "auto" and not Path("/proc/driver/nvidia").is_dir():
            gpus = []  # GPU ids in the environment but no driver (a CPU node, a test cluster's fake GPU)
        if not gpus:
            if choice == "cuda":
                raise ScalelabError("train.device: cuda, but this job sees no GPU (CUDA_VISIBLE_DEVICES="
                                    f"{listed if listed is not None else 'unset'}); run it on a GPU or set train.device: auto")
            return "cpu"
        gpu = self.gpu if self.gpu in gpus else self.claim(gpus)
        return f"cuda:{gpus.index(gpu)}"

    def pick(self, choice: str, precision: str) -> torch.device:
        """The device for train.device = `choice` (auto | cpu | cuda), checked against `precision`.
        A second pick keeps the GPU claimed by the first: a second lock on it from the same
        owner would wait for ever on the first."""
        import torch

        device = torch.device("cpu")
        if choice != "cpu":
            gpus = visible_gpus(self.env)
            if gpus:
                gpu = self.gpu if self.gpu in gpus else self.claim(gpus)
                if torch.cuda.is_available():
                    device = torch.device("cuda", gpus.index(gpu))
                else:  # e.g. a CPU-only torch on a GPU node
                    self.close()
            if device.type == "cpu" and choice == "cuda":
                raise ScalelabError("train.device: cuda, but this job sees no usable GPU (CUDA_VISIBLE_DEVICES="
                                    f"{self.env.get('CUDA_VISIBLE_DEVICES', 'unset')}, torch {torch.__version__}); "
                                    "run it on a GPU or set train.device: auto")
        if precision == "bf16":
            # No silent fp32 fallback: a study whose trials ran at different precisions would mix
            # two learning curves, and its cached results would claim a precision they did not use.
            if device.type != "cuda":
                raise ScalelabError("train.precision: bf16 needs a CUDA GPU and this job has none; "
                                    "set train.precision: fp32, or run the trials on GPUs")
            # Asked of the claimed GPU, not the current one (is_bf16_supported asks that).
            if torch.version.hip is None and torch.cuda.get_device_capability(device)[0] < 8:
                raise ScalelabError(f"train.precision: bf16 is not native on {torch.cuda.get_device_name(device)} "
                                    "(needs compute capability 8.0+); set train.precision: fp32")
        return device

    def visible(self) -> str | None:
        """CUDA_VISIBLE_DEVICES as a job on the claimed GPU alone would have it (run.json records it)."""
        return self.gpu if self.gpu is not None else self.env.get("CUDA_VISIBLE_DEVICES")


def autocast(device: torch.device, precision: str):
    """The context for forward passes: bf16 mixed precision on CUDA, else plain fp32."""
    import torch

    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def describe(device) -> str:
    """The device's name for run.json: a torch.device, or a name ("cpu", "cuda:0"). Torch is
    asked only for a GPU's name."""
    if str(device).split(":")[0] != "cuda":
        return platform.processor() or platform.machine()
    import torch

    return torch.cuda.get_device_name(device)

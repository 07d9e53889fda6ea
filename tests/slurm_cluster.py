"""A real single-node SLURM cluster for tests: munged, slurmctld and slurmd from Debian's packages.

    with SlurmCluster.started() as cluster:      # or cluster = SlurmCluster(); cluster.start()
        subprocess.run(["sbatch", ...], env=cluster.env(os.environ))
    # every daemon it started has been stopped, by PID, even when the block raised

Everything lives in one private folder (config, state, logs, sockets) on free ports. One thing
is system-wide: /etc/slurm/slurm.conf links to the private config while the cluster runs,
because Snakemake's job step strips SLURM_* variables (SLURM_CONF too) before calling srun, and
srun then reads the default path. So the cluster refuses to start where a real SLURM is
configured there, and removes the link when it stops.

The node is virtual (SlurmdParameters=config_overrides): it declares NODE_CPUS cores, NODE_MEMORY_MB
and NODE_GPUS fake GPUs (gres gpu:fake, File=/dev/null and /dev/zero) whatever the machine has, so
a profile's real requests (CPUs per GPU, memory) fit on a 2-core CI machine. Nothing is enforced
without cgroups; the jobs only need to be scheduled as on a GPU cluster, and they see
CUDA_VISIBLE_DEVICES as there.

Cgroups are unavailable in containers, so processes are tracked by parent PID
(proctrack/linuxproc) and nothing is confined. There is no slurmdbd: `sacct` fails, and
Snakemake's SLURM executor must query job states with squeue.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PACKAGES = ["munge", "slurmctld", "slurmd", "slurm-client"]
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")  # where srun looks when SLURM_CONF is unset
PROGRAMS = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel"]
NODE_CPUS = 8
NODE_MEMORY_MB = 64000
FAKE_GPU_FILES = ["/dev/null", "/dev/zero"]  # SLURM wants a device file per GPU; these exist everywhere
START_TIMEOUT = 60  # seconds for the node to come up (about 5 s here)
STOP_TIMEOUT = 20


def unavailable_reason() -> str | None:
    """Why a cluster cannot be started here (None if it can), installing the packages if needed."""
    if os.geteuid() != 0:
        return "it needs root (munged runs as user munge, the SLURM daemons as root; apt-get installs them)"
    if DEFAULT_CONF.exists() and not DEFAULT_CONF.is_symlink():
        return f"a SLURM is already configured here ({DEFAULT_CONF}); the test cluster would shadow it"
    if all(shutil.which(p) for p in PROGRAMS):
        return None
    if not shutil.which("apt-get"):
        return "SLURM is not installed and there is no apt-get to install it (" + " ".join(PACKAGES) + ")"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            return f"could not install SLURM ({' '.join(cmd)} failed: {proc.stderr.strip()[-300:]})"
    missing = [p for p in PROGRAMS if not shutil.which(p)]
    return f"SLURM installed but {', '.join(missing)} missing" if missing else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlurmCluster:
    """One controller and one compute node on this machine; `start()` then `stop()`."""

    def __init__(self, root: str | Path | None = None, partition: str = "gpu"):
        # Not under pytest's tmp_path: munged runs as user `munge`, which cannot enter root's
        # 0700 pytest folders.
        self.root = Path(root or tempfile.mkdtemp(prefix="scalelab-slurm-"))
        self.partition = partition
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.root / "slurm.conf"
        self.munge_dir = self.root / "munge"
        self.pidfiles = {
            "slurmd": self.root / "slurmd.pid",
            "slurmctld": self.root / "slurmctld.pid",
            "munged": self.munge_dir / "munged.pid",
        }
        self.pids: dict[str, int] = {}
        self.linked_conf = False

    # --- configuration ------------------------------------------------------------------------

    def env(self, base: dict | None = None) -> dict:
        """An environment whose SLURM commands talk to this cluster."""
        return {**(base if base is not None else os.environ), "SLURM_CONF": str(self.conf)}

    def _write_config(self) -> None:
        socket_path = self.munge_dir / "munge.socket"
        for sub in ("state", "spool"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text("\n".join([
            "ClusterName=scalelabtest",
            f"SlurmctldHost={self.host}",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={socket_path}",
            f"StateSaveLocation={self.root / 'state'}",
            f"SlurmdSpoolDir={self.root / 'spool'}",
            f"SlurmctldPidFile={self.pidfiles['slurmctld']}",
            f"SlurmdPidFile={self.pidfiles['slurmd']}",
            f"SlurmctldLogFile={self.root / 'slurmctld.log'}",
            f"SlurmdLogFile={self.root / 'slurmd.log'}",
            # No cgroups in containers: track processes by parent PID, confine nothing.
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "MpiDefault=none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "SchedulerType=sched/backfill",
            "ReturnToService=2",
            # Finished jobs stay visible to squeue this long: Snakemake's status queries need
            # to see them finish (with squeue, a job that vanishes is waited for forever).
            "MinJobAge=300",
            "KillWait=10",  # seconds between SIGTERM and SIGKILL: time to write a checkpoint
            "SlurmdParameters=config_overrides",  # the node is what this file says, not the hardware
            "GresTypes=gpu",
            f"NodeName={self.host} CPUs={NODE_CPUS} RealMemory={NODE_MEMORY_MB} "
            f"Gres=gpu:fake:{len(FAKE_GPU_FILES)} State=UNKNOWN",
            f"PartitionName={self.partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))
        (self.root / "gres.conf").write_text("".join(
            f"NodeName={self.host} Name=gpu Type=fake File={path}\n" for path in FAKE_GPU_FILES))

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> "SlurmCluster":
        """Start munged, slurmctld and slurmd; return once the node accepts jobs."""
        try:
            self._write_config()
            self._link_default_conf()
            self._start_munged()
            self._start("slurmctld", ["slurmctld", "-f", str(self.conf)])
            self._start("slurmd", ["slurmd", "-f", str(self.conf)])
            self._wait_for_idle_node()
        except BaseException:
            self.stop()
            raise
        return self

    def _link_default_conf(self) -> None:
        if DEFAULT_CONF.is_symlink() and not DEFAULT_CONF.exists():
            DEFAULT_CONF.unlink()  # left by a cluster that was killed before it could clean up
        if DEFAULT_CONF.exists() or DEFAULT_CONF.is_symlink():
            raise RuntimeError(f"{DEFAULT_CONF} exists: another SLURM (or test cluster) is configured here")
        DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
        DEFAULT_CONF.symlink_to(self.conf)
        self.linked_conf = True

    def _start_munged(self) -> None:
        self.munge_dir.mkdir(exist_ok=True)
        shutil.chown(self.munge_dir, "munge", "munge")
        os.chmod(self.munge_dir, 0o755)  # clients need to reach the socket
        os.chmod(self.root, 0o755)  # mkdtemp makes 0700; munged checks every folder on its socket path
        self._start("munged", [
            "runuser", "-u", "munge", "--", "munged",
            f"--socket={self.munge_dir / 'munge.socket'}",
            f"--pid-file={self.pidfiles['munged']}",
            f"--log-file={self.munge_dir / 'munged.log'}",
            f"--seed-file={self.munge_dir / 'munged.seed'}",
        ])

    def _start(self, name: str, cmd: list[str]) -> None:
        """Run a daemon that forks itself and record the PID it writes to its pidfile."""
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env(), timeout=START_TIMEOUT)
        if proc.returncode != 0:
            raise RuntimeError(f"{name} did not start ({proc.returncode}): {proc.stderr.strip()}\n{self.logs(name)}")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = self.pidfiles[name].read_text().strip() if self.pidfiles[name].exists() else ""
            if text.isdigit():
                self.pids[name] = int(text)
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} wrote no pidfile within {START_TIMEOUT}s\n{self.logs(name)}")

    def _wait_for_idle_node(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        state = ""
        while time.monotonic() < deadline:
            state = self.run("sinfo", "--noheader", "--format=%T", check=False).stdout.strip()
            if state == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(f"node not idle after {START_TIMEOUT}s (state {state!r})\n{self.logs('slurmd')}")

    def stop(self) -> None:
        """Cancel every job, then stop the daemons this object started, by PID, newest first."""
        if "slurmctld" in self.pids:
            self.run("scancel", "--full", f"--partition={self.partition}", check=False)
            deadline = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < deadline and self.run("squeue", "--noheader", "--states=running,completing",
                                                           check=False).stdout.strip():
                time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.pop(name, None)
            if pid is not None:
                _terminate(pid)
        if self.linked_conf and DEFAULT_CONF.is_symlink() and DEFAULT_CONF.resolve() == self.conf.resolve():
            DEFAULT_CONF.unlink()
            self.linked_conf = False

    @classmethod
    @contextlib.contextmanager
    def started(cls, root: str | Path | None = None):
        """The cluster for a with-block; its folder is removed afterwards unless the block failed
        (the daemons' logs are in it)."""
        cluster = cls(root)
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)

    # --- use ----------------------------------------------------------------------------------

    def run(self, *cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """A SLURM client command against this cluster."""
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env(), timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def logs(self, name: str = "slurmctld", tail: int = 3000) -> str:
        path = self.munge_dir / "munged.log" if name == "munged" else self.root / f"{name}.log"
        return f"--- {path} ---\n{path.read_text(errors='replace')[-tail:]}" if path.exists() else f"(no {path})"


def _terminate(pid: int) -> None:
    """SIGTERM, then SIGKILL if the process is still there after STOP_TIMEOUT."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)

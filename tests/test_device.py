"""Each job uses only the GPU it claimed; precision and device mistakes are one-line errors."""

import threading
import time

import pytest
import torch

from scalelab.training import device
from scalelab.errors import ScalelabError

cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only paths")


@pytest.fixture(autouse=True)
def no_held_locks():
    yield
    device.release_gpus()


def test_jobs_claim_different_gpus_and_wait_when_all_are_taken(tmp_path):
    assert device.claim_gpu(["0", "1"], tmp_path) == "0"
    assert device.claim_gpu(["0", "1"], tmp_path) == "1"  # a second job gets the other GPU
    first_lock = device._held_locks[0]
    got = []
    third = threading.Thread(target=lambda: got.append(device.claim_gpu(["0", "1"], tmp_path, wait=0.05)), daemon=True)
    third.start()
    time.sleep(0.3)
    assert third.is_alive() and not got  # all GPUs busy: it waits rather than share one
    device._held_locks.remove(first_lock)
    first_lock.close()  # the first job ends; the kernel drops its lock
    third.join(timeout=5)
    assert got == ["0"]


def test_locks_are_per_slurm_job(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    local = device.lock_dir()
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    assert device.lock_dir() != local and device.lock_dir().name.endswith("slurm42")


def test_visible_gpus_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert device.visible_gpus() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert device.visible_gpus() == []


@cpu_only
def test_auto_uses_cpu_when_torch_cannot_use_the_granted_gpu(monkeypatch):
    """A GPU granted (as SLURM's fake GPU in the cluster test) but no CUDA in torch: CPU."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert device.pick("auto", "fp32").type == "cpu"
    assert not device._held_locks  # the claim is given back


@cpu_only
@pytest.mark.parametrize("choice,precision,words", [
    ("cuda", "fp32", ["train.device: cuda", "no usable GPU", "train.device: auto"]),
    ("auto", "bf16", ["train.precision: bf16", "CUDA", "train.precision: fp32"]),
])
def test_impossible_device_or_precision_is_one_line(monkeypatch, choice, precision, words):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(ScalelabError) as info:
        device.pick(choice, precision)
    assert "\n" not in str(info.value)
    for word in words:
        assert word in str(info.value)

"""Each job uses only the GPU it claimed; precision and device mistakes are one-line errors."""

import os
import threading
import time
from pathlib import Path

import pytest
import torch

from scalelab.training import device
from scalelab.errors import ScalelabError

cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only paths")


def test_jobs_claim_different_gpus_and_wait_when_all_are_taken(tmp_path):
    first, second, third = (device.Devices(locks=tmp_path, wait=0.05) for _ in range(3))
    assert first.claim(["0", "1"]) == "0"
    assert second.claim(["0", "1"]) == "1"  # a second job gets the other GPU
    got = []
    waiting = threading.Thread(target=lambda: got.append(third.claim(["0", "1"])), daemon=True)
    waiting.start()
    time.sleep(0.3)
    assert waiting.is_alive() and not got  # all GPUs busy: it waits rather than share one
    first.close()  # the first job ends; its lock goes with it
    waiting.join(timeout=5)
    assert got == ["0"]
    second.close(), third.close()


def test_one_owner_picking_twice_keeps_its_claim(tmp_path, monkeypatch):
    """The bug: the audit re-trains in one process, and each run claimed a GPU anew; with one GPU
    visible the second claim waited for ever on the first run's lock."""
    gpus = device.Devices(locks=tmp_path, wait=0.05)
    gpus.claim(["0"])
    monkeypatch.setattr(gpus, "claim", lambda _: pytest.fail("claimed a second GPU lock"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(gpus, "env", {"CUDA_VISIBLE_DEVICES": "0"})
    assert gpus.pick("auto", "fp32") == torch.device("cuda", 0)
    gpus.close()


def test_the_claimed_gpu_is_addressed_by_its_place_not_by_rewriting_the_environment(tmp_path, monkeypatch):
    """The bug: the claim narrowed os.environ's CUDA_VISIBLE_DEVICES behind the caller's back."""
    env = {"CUDA_VISIBLE_DEVICES": "2,3"}
    before = dict(os.environ)
    taken = device.Devices(env, locks=tmp_path)
    taken.claim(["2"])  # another job holds GPU 2
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with device.Devices(env, locks=tmp_path) as gpus:
        assert gpus.pick("auto", "fp32") == torch.device("cuda", 1)  # GPU 3 is the second visible one
        assert gpus.visible() == "3"  # what run.json records
    assert gpus.gpu is None and dict(os.environ) == before and env == {"CUDA_VISIBLE_DEVICES": "2,3"}
    taken.close()


def test_locks_are_per_slurm_job(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    local = device.lock_dir()
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    assert device.lock_dir() != local and device.lock_dir().name.endswith("slurm42")
    assert device.Devices().locks == device.lock_dir()


def test_visible_gpus_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert device.visible_gpus() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert device.visible_gpus() == []


@cpu_only
def test_auto_uses_cpu_when_torch_cannot_use_the_granted_gpu(monkeypatch):
    """A GPU granted (as SLURM's fake GPU in the cluster test) but no CUDA in torch: CPU."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    gpus = device.Devices()
    assert gpus.pick("auto", "fp32").type == "cpu"
    assert gpus.gpu is None and not gpus._held  # the claim is given back


@cpu_only
@pytest.mark.parametrize("choice,precision,words", [
    ("cuda", "fp32", ["train.device: cuda", "no usable GPU", "train.device: auto"]),
    ("auto", "bf16", ["train.precision: bf16", "CUDA", "train.precision: fp32"]),
])
def test_impossible_device_or_precision_is_one_line(monkeypatch, choice, precision, words):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(ScalelabError) as info:
        device.Devices().pick(choice, precision)
    assert "\n" not in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_a_trainers_gpu_is_claimed_without_torch(tmp_path):
    """Catches a user's trainer told another job's GPU, or a GPU where no driver is (a CPU node
    whose scheduler still set CUDA_VISIBLE_DEVICES), or `cuda` quietly becoming the CPU."""
    env = {"CUDA_VISIBLE_DEVICES": "3,5"}
    with device.Devices(env, locks=tmp_path) as first, device.Devices(env, locks=tmp_path) as second:
        assert first.pick_for_trainer("cuda") == "cuda:0" and first.visible() == "3"
        assert second.pick_for_trainer("cuda") == "cuda:1" and second.visible() == "5"
        assert first.pick_for_trainer("cpu") == "cpu"
    driver = Path("/proc/driver/nvidia").is_dir()
    with device.Devices(env, locks=tmp_path) as gpus:
        assert gpus.pick_for_trainer("auto") == ("cuda:0" if driver else "cpu")
    with pytest.raises(ScalelabError, match="train.device: cuda, but this job sees no GPU"):
        device.Devices({"CUDA_VISIBLE_DEVICES": ""}, locks=tmp_path).pick_for_trainer("cuda")

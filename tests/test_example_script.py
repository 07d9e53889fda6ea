"""The worked example of a user's own training program (examples/wav_commands/): make_data.py
writes real .wav files and a manifest, train.py trains on index files through subprocess with
the real torch, writes history.csv and metrics.json, survives SIGTERM and resumes to the same
result. Tiny sizes: ~400 clips, a few epochs."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys

import pytest
from conftest import ROOT

EXAMPLE = ROOT / "examples" / "wav_commands"
KEYS = {"val_loss", "val_error", "test_loss", "test_error", "train_loss", "train_error", "params", "steps",
        "best_step", "stopped"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """400 clips, and index files: val rows 0-79, test 80-159, train 160-399."""
    root = tmp_path_factory.mktemp("wav")
    subprocess.run([sys.executable, EXAMPLE / "make_data.py", "--out", root / "data", "--examples", "400"],
                   check=True, capture_output=True)
    for name, rows in (("val", range(80)), ("test", range(80, 160)), ("train", range(160, 400))):
        (root / f"{name}.txt").write_text("".join(f"{i}\n" for i in rows))
    return root


def command(data, run: str, epochs: int = 4, train: str = "train.txt") -> list:
    return [sys.executable, EXAMPLE / "train.py", "--manifest", data / "data" / "manifest.csv",
            "--indices", data / train, "--val-indices", data / "val.txt", "--test-indices", data / "test.txt",
            "--width", "8", "--depth", "2", "--lr", "0.003", "--seed", "0", "--device", "cpu",
            "--epochs", str(epochs), "--min-steps", "0", "--eval-steps", "1", "--checkpoint", data / run / "ckpt", "--out", data / run / "out"]


def test_make_data_is_byte_reproducible(data, tmp_path):
    """Catches an unseeded or order-dependent generator (a set iteration, a clock): the same
    arguments must write the same manifest and the same .wav bytes; --append adds rows at the end."""
    subprocess.run([sys.executable, EXAMPLE / "make_data.py", "--out", tmp_path, "--examples", "400"],
                   check=True, capture_output=True)
    assert (tmp_path / "manifest.csv").read_bytes() == (data / "data" / "manifest.csv").read_bytes()
    for name in ("c000000.wav", "c000399.wav"):
        assert (tmp_path / "clips" / name).read_bytes() == (data / "data" / "clips" / name).read_bytes()
    before = (tmp_path / "manifest.csv").read_text()
    subprocess.run([sys.executable, EXAMPLE / "make_data.py", "--out", tmp_path, "--append", "40"],
                   check=True, capture_output=True)
    after = (tmp_path / "manifest.csv").read_text()
    rows = list(csv.DictReader(after.splitlines()))
    assert after.startswith(before) and len(rows) == 440 and all((tmp_path / r["path"]).exists() for r in rows)


def test_train_writes_metrics_and_history_and_is_deterministic(data):
    """Catches a missing metrics key, an empty history, or an unseeded run (two runs with the same
    arguments must write the same metrics.json bytes on CPU)."""
    for run in ("a", "b"):
        subprocess.run(command(data, run), check=True, capture_output=True)
    metrics = json.loads((data / "a/out/metrics.json").read_text())
    assert KEYS <= set(metrics) and 0 <= metrics["test_error"] <= 1 and metrics["steps"] > 0
    with open(data / "a/out/history.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert (data / "a/out/metrics.json").read_bytes() == (data / "b/out/metrics.json").read_bytes()


def test_sigterm_checkpoints_and_resume_gives_the_same_metrics(data):
    """Catches a SIGTERM that kills the run without a checkpoint (exit must be 143, last.pt
    saved), and a resume that differs from an uninterrupted run (lost RNG, optimizer or
    scheduler state, a restarted epoch order): the resumed metrics.json must be the same bytes."""
    subprocess.run(command(data, "whole", epochs=20), check=True, capture_output=True)
    proc = subprocess.Popen(command(data, "cut", epochs=20), stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("epoch 1/")  # the first epoch is done, the second has begun
    proc.send_signal(signal.SIGTERM)  # at once: on a fast machine the other 19 epochs take about a second
    proc.communicate(timeout=60)
    assert proc.returncode == 143 and (data / "cut/ckpt/last.pt").exists()
    done = subprocess.run(command(data, "cut", epochs=20), check=True, capture_output=True, text=True)
    assert "resumed at epoch" in done.stdout
    assert (data / "cut/out/metrics.json").read_bytes() == (data / "whole/out/metrics.json").read_bytes()
    assert (data / "cut/out/history.csv").read_bytes() == (data / "whole/out/history.csv").read_bytes()


def test_an_empty_index_file_fails_with_one_line(data):
    """Catches a traceback (or, worse, a run on zero examples) instead of a clear error: an empty
    index file must exit non-zero with one line on stderr that names the file."""
    (data / "empty.txt").write_text("")
    proc = subprocess.run(command(data, "empty", train="empty.txt"), check=False, capture_output=True, text=True)
    assert proc.returncode != 0 and proc.stderr.strip().count("\n") == 0 and "empty.txt" in proc.stderr

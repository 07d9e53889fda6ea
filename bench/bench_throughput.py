"""Training throughput of the trial step against a bare PyTorch loop on the same model and data.

Both train the MNIST-1D CNN on one thread for the same number of steps at batch 256:
  bare      torch.optim.Adam(fused=True), random batches, nothing else;
  scalelab  loop.train_loop as a trial runs it: its own Adam, epoch shuffling, a validation
            pass every `eval_every` steps (params.yaml), early-stopping bookkeeping.
Prints samples/s for both and their ratio (scalelab / bare; 1.0 means no cost).

    python bench/bench_throughput.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
from scalelab.training import loop  # noqa: E402
from scalelab.training.stopping import stopping_rule  # noqa: E402
from scalelab.models import cnn1d  # noqa: E402
from scalelab.training.progress import Progress  # noqa: E402

STEPS, BATCH, M, N_VAL = 400, 256, 4096, 2048


def data():
    g = torch.Generator().manual_seed(0)
    return (torch.randn(M, 40, generator=g), torch.randint(0, 10, (M,), generator=g),
            torch.randn(N_VAL, 40, generator=g), torch.randint(0, 10, (N_VAL,), generator=g))


def bare(width: int, x, y) -> float:
    torch.manual_seed(0)
    model = cnn1d.build(width, (40,), 10)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, fused=True)
    start = time.perf_counter()
    for _ in range(STEPS):
        idx = torch.randint(0, M, (BATCH,))
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return STEPS * BATCH / (time.perf_counter() - start)


def scalelab(width: int, x, y, xv, yv, cfg: dict) -> float:
    torch.manual_seed(0)
    model = cnn1d.build(width, (40,), 10)
    rule = {**stopping_rule(cfg, M), "patience": 10**9, "budget": STEPS}  # run all STEPS, as bare does
    trial = loop.Trial(model, 0.01, cfg, rule, 0, M, torch.device("cpu"))
    with tempfile.TemporaryDirectory() as tmp, open("/dev/null", "w") as devnull:
        start = time.perf_counter()
        loop.train_loop(trial, x, y, (xv, yv), cfg, rule, BATCH, Progress(STEPS, "bench", devnull),
                         Path(tmp) / "ckpt", {}, {"flag": False})
        return STEPS * BATCH / (time.perf_counter() - start)


def main() -> None:
    torch.set_num_threads(1)
    cfg = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]
    x, y, xv, yv = data()
    print(f"torch {torch.__version__}, 1 thread, {STEPS} steps of batch {BATCH}, validation on {N_VAL} every {stopping_rule(cfg, M)['eval_every']} steps")
    for width in (16, 64, 128):
        bare(width, x, y)  # warm-up
        b, s = bare(width, x, y), scalelab(width, x, y, xv, yv, cfg)
        print(f"width {width:3d}: bare {b:9.0f} samples/s, scalelab {s:9.0f} samples/s, ratio {s / b:.2f}")


if __name__ == "__main__":
    main()

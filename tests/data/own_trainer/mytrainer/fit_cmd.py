"""The curve as a training PROGRAM (models.<family>.command: python fit_cmd.py ...)."""

import argparse
import json
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from curve import pid_file, train  # noqa: E402

parser = argparse.ArgumentParser()
for name in ("indices", "out", "checkpoint", "mode"):
    parser.add_argument(f"--{name}", required=True)
for name in ("width", "depth", "seed"):
    parser.add_argument(f"--{name}", type=int, required=True)
args = parser.parse_args()
pid_file()
stop = {"now": False}
signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
n = len(Path(args.indices).read_text().split())
out = Path(args.out)
rows = []


def report(step, val_loss, val_error):
    rows.append(f"{step},,{val_loss},{val_error}\n")
    (out / "history.csv").write_text("step,train_loss,val_loss,val_error\n" + "".join(rows))


if args.mode == "exit3":
    sys.exit("could not open the dataset (simulated)")  # exit code 1 with a message
metrics = train(n, args.width, args.depth, args.seed, Path(args.checkpoint), report, args.mode, lambda: stop["now"])
if metrics is None:
    sys.exit(143)  # preempted: the checkpoint is saved
text = json.dumps(metrics)
(out / "metrics.json").write_text("{not json" if args.mode == "malformed" else text)
